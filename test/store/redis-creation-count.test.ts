import { randomBytes } from 'node:crypto';
import { expect, it } from 'vitest';
import { createLogger } from '../../src/logging/logger.js';
import { SessionService, type SessionChange } from '../../src/session/session-service.js';
import { RedisSessionStore } from '../../src/store/redis-store.js';
import { describeRedis, redisForSuite } from '../helpers/redis-server.js';
import { makeSession, TEST_ID_RULE } from './session-store.contract.js';

// s32 carried #3: on a port without a session, a first request (current) and a /session/new
// (renew) at the same moment: the renewal read "no session" before the request's creation
// landed, so both logged and counted `created`, and stickyport_sessions_created_total said two
// for one port. The renewal now waits for a lookup under way and looks at what it counted.

describeRedis('creations counted once when a first request and a renewal race (Redis)', () => {
  const redis = redisForSuite();

  it('each port counts one creation, then a renewal, whatever the order the two land in (Redis)', async () => {
    const store = await RedisSessionStore.open({ url: redis.server.url, keyPrefix: `count-${randomBytes(4).toString('hex')}:`, log: createLogger('silent'), idRule: TEST_ID_RULE });
    try {
      const service = new SessionService(store, createLogger('silent'));
      const changes = new Map<number, SessionChange[]>();
      service.onChange = (port, change) => changes.set(port, [...(changes.get(port) ?? []), change]);
      const ports = Array.from({ length: 60 }, (_, i) => i + 1);
      // Both calls in one tick, the renewal a few microtask turns behind or ahead in turn.
      await Promise.all(
        ports.map(async (port) => {
          const first = service.current(port, () => makeSession(port));
          for (let turn = 0; turn < port % 6; turn++) await Promise.resolve();
          await Promise.all([first, service.renew(port, makeSession(port))]);
        }),
      );
      for (const port of ports) {
        const seen = changes.get(port) ?? [];
        expect(seen.filter((change) => change === 'created'), `port ${port}: ${seen.join(', ')}`).toHaveLength(1);
        expect(seen.length, `port ${port}: ${seen.join(', ')}`).toBeLessThanOrEqual(2);
      }
      // The race was met: some renewals replaced the session a request had just made.
      expect(ports.filter((port) => changes.get(port)!.includes('renewed')).length).toBeGreaterThan(0);
    } finally {
      await store.close();
    }
  });
});
