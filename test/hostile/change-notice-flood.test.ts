import { afterAll, beforeAll, expect } from 'vitest';
import { request } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { describeRedis, itRedis, redisForSuite } from '../helpers/redis-server.js';
import { startStickyport, upstreamUrl } from '../helpers/stickyport.js';

// Change notices on `<prefix>changes` are a hint from other instances. A flood of them (another
// instance rotating a port without pause, or anyone able to PUBLISH) must not keep requests on
// that port from being served: each notice restarts a store read in progress for the port
// (src/ports/port-state.ts, load()), an unbounded loop if notices outpaced Redis's answers.

describeRedis('a flood of Redis change notices', () => {
  const redis = redisForSuite();
  let origin: Origin;
  let upstream: RecordingUpstream;
  beforeAll(async () => {
    [origin, upstream] = await Promise.all([startOrigin(), startRecordingUpstream()]);
  });
  afterAll(async () => {
    await Promise.all([origin?.close(), upstream?.close()]);
  });

  itRedis('a request on a port whose notices never stop is still served (Redis)', async () => {
    const proxy = await startStickyport(
      { Upstream: { Url: upstreamUrl(upstream.port) }, SessionStore: { Type: 'redis', RedisUrl: redis.server.url, KeyPrefix: 'flood:' } },
      { portCount: 1 },
    );
    const [port] = proxy.ports as [number];
    let served = false;
    let flooding = true;
    // Bounded: at most 8 s of notices, 500 at a time.
    const flood = (async () => {
      const until = Date.now() + 8_000;
      const notice = JSON.stringify({ instance: 'elsewhere', port });
      while (!served && Date.now() < until) {
        const batch = redis.raw.pipeline();
        for (let i = 0; i < 500; i++) batch.publish('flood:changes', notice);
        await batch.exec();
      }
      flooding = false;
    })();
    try {
      // 20 requests, each its own connection, the first one installing the port's session.
      const statuses: number[] = [];
      for (let i = 0; i < 20; i++) statuses.push((await request(port, `${origin.url}/during-flood`, { agent: false })).status);
      const duringFlood = flooding;
      served = true;
      expect(statuses).toEqual(Array(20).fill(200));
      expect(duringFlood).toBe(true);
    } finally {
      served = true;
      await flood;
      await proxy.stop();
    }
  }, 20_000);
});
