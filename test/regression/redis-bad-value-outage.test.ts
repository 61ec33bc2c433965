// Regression: one port's key holding JSON without `expiresAt` made the create script raise
// (`nil > number`), and the store took any error for "Redis is down": it served every port from
// local memory and logged the outage and the recovery on every request. A value the store
// cannot use is now that port's missing session, and only a Redis that cannot serve at all
// (connection lost, timed out, refusing every write) starts an outage.
import { expect } from 'vitest';
import { createLogger } from '../../src/logging/logger.js';
import { RedisSessionStore } from '../../src/store/redis-store.js';
import { describeRedis, itRedis, redisForSuite } from '../helpers/redis-server.js';
import { logSink } from '../helpers/stickyport.js';
import { makeSession, TEST_ID_RULE, UNUSABLE } from '../store/session-store.contract.js';

const OUTAGE = 'Redis is unreachable: serving sessions from local memory until it is back';

describeRedis('Redis store: one port\'s value without expiresAt', () => {
  const redis = redisForSuite();

  itRedis('is replaced for that port alone, logged once, and starts no outage (Redis)', async () => {
    const sink = logSink();
    const store = await RedisSessionStore.open({ url: redis.server.url, keyPrefix: 'incomplete:', log: createLogger('debug', sink.stream), idRule: TEST_ID_RULE });
    const logged = (msg: string) => sink.lines.map((line) => JSON.parse(line)).filter((entry) => entry.msg === msg);
    try {
      const other = await store.getOrCreate(2, () => makeSession(2));
      const { id, createdAt } = makeSession(1);
      await redis.raw.set('incomplete:port:1', JSON.stringify({ id, port: 1, createdAt }), 'PX', 60_000);

      const fresh = await store.getOrCreate(1, () => makeSession(1));
      expect(fresh.id).not.toBe(id);
      expect(JSON.parse((await redis.raw.get('incomplete:port:1'))!)).toEqual(fresh);
      for (let i = 0; i < 10; i++) {
        expect(await store.getOrCreate(1, () => makeSession(1))).toEqual(fresh);
        expect(await store.getOrCreate(2, () => makeSession(2))).toEqual(other);
      }
      // Redis is still the one asked: a change there shows at once, which local memory would not.
      const elsewhere = makeSession(2);
      await redis.raw.set('incomplete:port:2', JSON.stringify(elsewhere), 'PX', 60_000);
      expect(await store.getOrCreate(2, () => makeSession(2))).toEqual(elsewhere);
      expect(logged(OUTAGE)).toEqual([]);
      expect(logged(UNUSABLE)).toEqual([expect.objectContaining({ port: 1, problem: 'expiresAt is neither a time nor null' })]);
    } finally {
      await store.close();
    }
  });
});
