// A /session/new while Redis refuses writes (out of memory). Once it was answered 200 from
// local memory and dropped by a clean stop (fixed: the stop wrote it, or failed naming it); a
// crash still lost it. Now it is refused, and what the port uses is what Redis holds. (The
// stop's last write of rotations traffic made during an outage: test/store/redis-database.test.ts.)
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { expect } from 'vitest';
import { request } from '../helpers/client.js';
import { startOrigin } from '../helpers/origin.js';
import { freePortRange } from '../helpers/ports.js';
import { startRecordingUpstream } from '../helpers/recording-upstream.js';
import { describeRedis, itRedis, startRedisServer } from '../helpers/redis-server.js';
import { spawnStickyport, writeConfig, type SpawnedStickyport } from '../helpers/spawn-stickyport.js';
import { upstreamUrl } from '../helpers/stickyport.js';

/**
 * stickyport on Redis, one request made, then Redis refusing writes (maxmemory 1) and a
 * /session/new asked meanwhile: `before` is the id Redis holds. `run` gets it; everything is
 * stopped after it.
 */
async function withRotationAskedDuringOutage(
  run: (at: { proc: SpawnedStickyport; raw: Redis; key: string; port: number; before: string; answer: { status: number; body: string }; seenSession: () => string | undefined; originUrl: string }) => Promise<void>,
): Promise<void> {
  const [redis, origin, upstream, port] = await Promise.all([startRedisServer(), startOrigin(), startRecordingUpstream(), freePortRange(1)]);
  const raw = new Redis(redis.url);
  const keyPrefix = `oom-${randomBytes(4).toString('hex')}:`;
  const proc = spawnStickyport([
    '--config',
    writeConfig({
      Listen: { Host: '127.0.0.1', PortRange: { Start: port, End: port }, StickyProxyLifetime: 10 },
      Upstream: { Url: upstreamUrl(upstream.port) },
      SessionAPI: { Enabled: true, Domain: 'portmapper' },
      SessionStore: { Type: 'redis', RedisUrl: redis.url, KeyPrefix: keyPrefix },
    }),
  ]);
  try {
    await proc.waitForLine(/stickyport listening/);
    expect((await request(port, `${origin.url}/before`)).status).toBe(200);
    const before = upstream.seen.at(-1)!.session!;
    await raw.config('SET', 'maxmemory', '1');
    const answer = await request(port, 'http://portmapper/session/new');
    await run({ proc, raw, key: `${keyPrefix}port:${port}`, port, before, answer, seenSession: () => upstream.seen.at(-1)?.session, originUrl: origin.url });
  } finally {
    await proc.stop('SIGKILL');
    await raw.quit();
    await Promise.all([origin.close(), upstream.close(), redis.stop()]);
  }
}

// s32 carried #8: a /session/new answered 200 while Redis refused writes lived in the process's
// memory only: a crash (kill -9) before Redis took it brought the old id back, the one the client
// had been told was gone, and the other instances never left it. Such a rotation is refused now.
describeRedis('a rotation asked while Redis refuses writes', () => {
  itRedis('is answered 503 and not made: the port keeps the id Redis holds, through a crash (Redis)', async () => {
    await withRotationAskedDuringOutage(async ({ proc, raw, key, port, before, answer, seenSession, originUrl }) => {
      expect(answer.status).toBe(503);
      expect(JSON.parse(answer.body)).toMatchObject({ error: 'store_unavailable', message: expect.stringContaining('Redis is unreachable, so the rotation was not made') });
      // Traffic goes on, on the id Redis holds (the one the client still knows).
      expect((await request(port, `${originUrl}/during`)).status).toBe(200);
      expect(seenSession()).toBe(before);
      expect(JSON.parse((await raw.get(key))!).id).toBe(before);
      // Nothing answered is held in memory only: a crash loses nothing.
      proc.child.kill('SIGKILL');
      await proc.exited;
      expect(JSON.parse((await raw.get(key))!).id).toBe(before);
    });
  }, 20_000);

  itRedis('is made once Redis takes writes again, and a clean stop then exits 0 (Redis)', async () => {
    await withRotationAskedDuringOutage(async ({ proc, raw, key, port, before, answer }) => {
      expect(answer.status).toBe(503);
      await raw.config('SET', 'maxmemory', '0');
      // The store notices at its next probe or command; the API answers 200 from then on.
      let renewed: string | undefined;
      for (let tries = 0; tries < 50 && renewed === undefined; tries++) {
        const again = await request(port, 'http://portmapper/session/new');
        if (again.status === 200) renewed = (JSON.parse(again.body) as { session_id: string }).session_id;
        else await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(renewed).toBeDefined();
      expect(renewed).not.toBe(before);
      expect(JSON.parse((await raw.get(key))!).id).toBe(renewed);
      proc.child.kill('SIGTERM');
      expect(await proc.exited).toBe(0);
      expect(proc.stdout.some((line) => line.includes('"msg":"stopped"'))).toBe(true);
    });
  }, 20_000);
});
