// Regression (adversarial review): a /session/reset answered 200 was undone by the next Redis
// reconnect. Two instances: B carries traffic on port P; A renews P (B's local copy then holds
// A's new id, read back from Redis) and resets it. B had no binding left for P, so the reset's
// notice changed nothing on B. Any reconnect of B (a blip, a Redis restart) ran the outage
// recovery, which wrote B's whole local copy back with SET NX: Redis had no key for P, so A's
// reset id came back and both instances sent it. Only what an instance made while Redis was
// away is written back, and a change notice drops the local copy of the port.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect } from 'vitest';
import { request } from '../helpers/client.js';
import { eventually } from '../helpers/eventually.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { freePortRange } from '../helpers/ports.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { describeRedis, itRedis, redisForSuite } from '../helpers/redis-server.js';
import { startStickyport, upstreamUrl, type RunningProxy } from '../helpers/stickyport.js';

const A = '127.0.0.1';
const B = '127.0.0.2';

describeRedis('a reset made on another instance, then a Redis reconnect (Redis)', () => {
  const redis = redisForSuite();
  let origin: Origin;
  let upstream: RecordingUpstream;
  const proxies: RunningProxy[] = [];
  beforeAll(async () => {
    [origin, upstream] = await Promise.all([startOrigin(), startRecordingUpstream()]);
  });
  afterAll(async () => {
    for (const proxy of proxies) await proxy.stop();
    await Promise.all([origin?.close(), upstream?.close()]);
  });

  let requests = 0;
  async function sessionVia(host: string, port: number): Promise<string | undefined> {
    const marker = `r${++requests}`;
    expect((await request(port, `${origin.url}/${marker}`, { host })).status).toBe(200);
    return upstream.seen.find((entry) => entry.target.endsWith(`/${marker}`))?.session;
  }
  async function api(host: string, port: number, path: string): Promise<Record<string, unknown>> {
    const answer = await request(port, `http://portmapper${path}`, { host });
    expect(answer.status).toBe(200);
    return JSON.parse(answer.body) as Record<string, unknown>;
  }

  itRedis('the reset holds on both instances after every Redis client reconnected (Redis)', async () => {
    const start = await freePortRange(2);
    const [port, witness] = [start, start + 1];
    const settings = (host: string) => ({
      Listen: { Host: host },
      Upstream: { Url: upstreamUrl(upstream.port) },
      SessionStore: { Type: 'redis', RedisUrl: redis.server.url, KeyPrefix: `undo-${randomBytes(4).toString('hex')}:` },
    });
    const shared = settings(A).SessionStore;
    const a = await startStickyport({ ...settings(A), SessionStore: shared }, { startPort: start, portCount: 2 });
    proxies.push(a);
    const b = await startStickyport({ ...settings(B), SessionStore: shared }, { startPort: start, portCount: 2 });
    proxies.push(b);

    const first = await sessionVia(B, port);
    await sessionVia(B, witness);
    const renewed = (await api(A, port, '/session/new')).session_id as string;
    await eventually(() => b.logs.some((line) => line.includes('changed by another instance') && line.includes(`"port":${port}`)), 'B drops its binding of the port');
    expect(await api(A, port, '/session/reset')).toMatchObject({ success: true });
    // Notices arrive in order: once B has seen the witness port's, it has seen the reset's.
    await api(A, witness, '/session/new');
    await eventually(() => b.logs.some((line) => line.includes('changed by another instance') && line.includes(`"port":${witness}`)), 'B sees the later notice');

    const backBefore = b.logs.filter((line) => line.includes('Redis is back')).length;
    await redis.raw.client('KILL', 'TYPE', 'normal');
    await eventually(() => b.logs.filter((line) => line.includes('Redis is back')).length > backBefore, 'B reconnects and recovers', 10_000);

    // No session at the key: the reset's mark (s32), never a session written back.
    expect(await redis.raw.get(`${shared.KeyPrefix}port:${port}`)).toMatch(/^\{"reset":true,"ended":"[A-Za-z0-9_]+"\}$/);
    const afterA = await sessionVia(A, port);
    const afterB = await sessionVia(B, port);
    expect([first, renewed]).not.toContain(afterA);
    expect(afterB).toBe(afterA);
  }, 30_000);
});
