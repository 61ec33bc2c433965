// Regression (adversarial review): one instance, no rotation asked for, yet a port switched
// identity after Redis stalled writes (CLIENT PAUSE WRITE, 1.5 s). The first request on a fresh
// port read nothing, its create script waited past the 1 s command timeout, and the store's
// fallback made a SECOND id for the local copy: the request left with it and /session/ named it.
// When the pause ended Redis ran the queued script and stored the first id; on recovery Redis
// won, and the port went out with an id never logged nor reported. The fallback now takes the
// very session the script carried: whichever side wins, it is the same id.
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect } from 'vitest';
import { apiJson, request } from '../helpers/client.js';
import { eventually } from '../helpers/eventually.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { describeRedis, itRedis, startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { startStickyport, upstreamUrl } from '../helpers/stickyport.js';

describeRedis('a Redis that stalls writes past the command timeout (Redis)', () => {
  // A server of its own: CLIENT PAUSE stops every client of it.
  let redis: RedisServer;
  let raw: Redis;
  let origin: Origin;
  let upstream: RecordingUpstream;
  beforeAll(async () => {
    [redis, origin, upstream] = await Promise.all([startRedisServer(), startOrigin(), startRecordingUpstream()]);
    raw = new Redis(redis.url);
  });
  afterAll(async () => {
    await raw?.quit();
    await Promise.all([origin?.close(), upstream?.close(), redis?.stop()]);
  });

  itRedis('the first session of a port keeps its id when Redis stores it late (Redis)', async () => {
    const keyPrefix = `stall-${randomBytes(4).toString('hex')}:`;
    const proxy = await startStickyport(
      { Upstream: { Url: upstreamUrl(upstream.port) }, SessionStore: { Type: 'redis', RedisUrl: redis.url, KeyPrefix: keyPrefix } },
      { portCount: 1 },
    );
    const [port] = proxy.ports as [number];
    try {
      await raw.client('PAUSE', 1_500, 'WRITE');
      expect((await request(port, `${origin.url}/during`)).status).toBe(200);
      const during = upstream.seen.find((entry) => entry.target.endsWith('/during'))!.session;
      expect((await apiJson<{ session_id: string }>(port, '/session/')).session_id).toBe(during);

      await eventually(() => proxy.logs.some((line) => line.includes('Redis is back')), 'the recovery is logged', 10_000);
      expect(JSON.parse((await raw.get(`${keyPrefix}port:${port}`))!).id).toBe(during);
      expect((await request(port, `${origin.url}/after`)).status).toBe(200);
      expect(upstream.seen.find((entry) => entry.target.endsWith('/after'))!.session).toBe(during);
      expect((await apiJson<{ session_id: string }>(port, '/session/')).session_id).toBe(during);
      // One id made for the port, and no switch.
      expect(proxy.logs.filter((line) => line.includes('"session created"'))).toHaveLength(1);
      expect(proxy.logs.filter((line) => line.includes('"session replaced"'))).toEqual([]);
    } finally {
      await proxy.stop();
    }
  }, 20_000);
});
