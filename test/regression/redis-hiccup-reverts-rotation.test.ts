// Regression (adversarial review): a /session/new answered while Redis was briefly unreachable
// is silently undone when Redis answers again, on the very instance that answered it. During
// the outage the renewal lands in the local copy only; when Redis is back, the local sessions
// are written back with SET NX ("Redis wins where it has one"), and Redis still holds the
// session from before the outage: the port goes back to the old id, and requests leave with
// it, though the API told the client the old id was gone. The same happens to /session/reset.
// A one-second hiccup is enough (a failover, `CLIENT PAUSE`, a network blip, a restart of a
// Redis that persists its data); nothing else touched the key meanwhile.
import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import { apiJson, request } from '../helpers/client.js';
import { eventually } from '../helpers/eventually.js';
import { startOrigin } from '../helpers/origin.js';
import { startRecordingUpstream } from '../helpers/recording-upstream.js';
import { describeRedis, itRedis, redisForSuite } from '../helpers/redis-server.js';
import { startStickyport, upstreamUrl } from '../helpers/stickyport.js';
import { startTcpRelay } from '../helpers/tcp-relay.js';

describeRedis('a rotation asked during a short Redis outage (Redis)', () => {
  const redis = redisForSuite();

  itRedis('is refused while Redis is away, then made and kept once it is back (Redis)', async () => {
    const origin = await startOrigin();
    const upstream = await startRecordingUpstream();
    // stickyport reaches Redis through a relay the test can cut.
    const relay = await startTcpRelay(redis.server.port);
    const proxy = await startStickyport(
      {
        Upstream: { Url: upstreamUrl(upstream.port) },
        SessionStore: { Type: 'redis', RedisUrl: `redis://127.0.0.1:${relay.port}`, KeyPrefix: `hiccup-${randomBytes(4).toString('hex')}:` },
      },
      { portCount: 1 },
    );
    const port = proxy.ports[0]!;
    const lastSession = (): string | undefined => upstream.seen.at(-1)?.session;
    try {
      expect((await request(port, `${origin.url}/`)).status).toBe(200);
      const before = lastSession()!;

      relay.cut();
      await request(port, `${origin.url}/`);
      await eventually(() => proxy.logs.some((line) => line.includes('Redis is unreachable')), 'the outage is logged');
      // s32 carried #8: answered from local memory, it was lost to a crash before Redis was back
      // (and never reached the other instances): during the outage it is refused, not made.
      const refused = await request(port, 'http://portmapper/session/new');
      expect(refused.status).toBe(503);
      expect(JSON.parse(refused.body)).toMatchObject({ error: 'store_unavailable' });
      await request(port, `${origin.url}/`);
      expect(lastSession()).toBe(before);
      // So is the same rotation asked by a request's control header (s32 review: it rotated
      // locally, answered, and a crash undid it).
      const seen = upstream.seen.length;
      const controlled = await request(port, `${origin.url}/`, { headers: { 'x-stickyport-session': 'new' } });
      expect(controlled.status).toBe(503);
      expect(controlled.headers['x-stickyport-error']).toBe('STORE_UNAVAILABLE');
      expect(upstream.seen.length).toBe(seen);
      await request(port, `${origin.url}/`);
      expect(lastSession()).toBe(before);

      relay.restore();
      await eventually(() => proxy.logs.some((line) => line.includes('Redis is back')), 'the recovery is logged', 10_000);
      const renewed = await apiJson<{ session_id: string }>(port, '/session/new');
      expect(renewed.session_id).not.toBe(before);

      // The client was told `renewed`; the old id must never come back.
      expect((await request(port, `${origin.url}/`)).status).toBe(200);
      expect(lastSession()).toBe(renewed.session_id);
      expect((await apiJson<{ session_id: string }>(port, '/session/')).session_id).toBe(renewed.session_id);
    } finally {
      await proxy.stop();
      await relay.close();
      await upstream.close();
      await origin.close();
    }
  }, 20_000);
});
