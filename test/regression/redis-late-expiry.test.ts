// Regression: Redis expires keys a few milliseconds after their PX deadline. A getOrCreate in
// that window found the key, saw it was expired by the caller's clock, and yet handed the
// expired session out again (SET NX refused to replace the still-present key).
import { expect } from 'vitest';
import { createLogger } from '../../src/logging/logger.js';
import { RedisSessionStore } from '../../src/store/redis-store.js';
import { describeRedis, itRedis, redisForSuite } from '../helpers/redis-server.js';

describeRedis('Redis store: a key Redis has not expired yet', () => {
  const redis = redisForSuite();

  itRedis('is not handed out once its expiresAt has passed (Redis)', async () => {
    // Both ids are seven letters: the rule the store checks stored ids against.
    const idRule = { idLength: 7, idAlphabet: 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ' };
    const store = await RedisSessionStore.open({ url: redis.server.url, keyPrefix: 'late:', log: createLogger('silent'), idRule });
    try {
      const past = Date.now() - 1;
      const stale = { id: 'staleId', port: 7, createdAt: past - 1_000, expiresAt: past };
      // The key outlives the session by a minute: the worst case of a late expiry.
      await redis.raw.set('late:port:7', JSON.stringify(stale), 'PX', 60_000);

      const fresh = await store.getOrCreate(7, () => Object.freeze({ id: 'freshId', port: 7, createdAt: Date.now(), expiresAt: Date.now() + 60_000 }));
      expect(fresh.id).toBe('freshId');
      expect(JSON.parse((await redis.raw.get('late:port:7'))!).id).toBe('freshId');
      expect(await store.get(7)).toEqual(fresh);
    } finally {
      await store.close();
    }
  });
});
