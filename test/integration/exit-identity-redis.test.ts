import { expect } from 'vitest';
import type { IdentityEvent } from '../../src/identity/identity-events.js';
import { createLogger } from '../../src/logging/logger.js';
import { RedisSessionStore } from '../../src/store/redis-store.js';
import { apiJson, request } from '../helpers/client.js';
import { startAddressEcho, startExitProvider } from '../helpers/exit-provider.js';
import { freePortRange } from '../helpers/ports.js';
import { describeRedis, itRedis, redisForSuite } from '../helpers/redis-server.js';
import { startStickyport } from '../helpers/stickyport.js';

// Two instances on one Redis (on 127.0.0.1 and 127.0.0.2, the same port numbers): the exit one
// of them learnt is stored with the session, shown by the other, and the other's check finds a
// drift against it.

describeRedis('exit identity shared through Redis', () => {
  const redis = redisForSuite();

  itRedis('one instance\'s exit is the other\'s through Redis, and a drift is found against it', async () => {
    const [provider, echo, start] = await Promise.all([startExitProvider(), startAddressEcho(), freePortRange(1)]);
    const idRule = { idLength: 8, idAlphabet: 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ', portRule: () => ({ parameters: new Set<string>() }) };
    const open = () => RedisSessionStore.open({ url: redis.server.url, keyPrefix: 'exit-shared:', log: createLogger('silent'), idRule });
    const [storeA, storeB] = await Promise.all([open(), open()]);
    const settings = (host: string) => ({
      Listen: { Host: host },
      Upstream: { Url: `http://customer-acme-session-{session}:secret@127.0.0.1:${provider.port}` },
      Identity: { EchoUrl: `${echo.url}/ip` },
    });
    const a = await startStickyport(settings('127.0.0.1'), { portCount: 1, startPort: start, store: storeA });
    const b = await startStickyport(settings('127.0.0.2'), { portCount: 1, startPort: start, store: storeB });
    try {
      const learnt = await apiJson<{ session_id: string; exit: { ip: string } }>(start, '/session/?ip=1');
      expect(learnt.exit.ip).toBe(provider.addressOf(learnt.session_id));
      const seenByB = JSON.parse((await request(start, 'http://portmapper/session/', { host: '127.0.0.2' })).body);
      expect(seenByB).toMatchObject({ session_id: learnt.session_id, exit: learnt.exit });

      const moved = provider.swap(learnt.session_id);
      const drift = new Promise<IdentityEvent>((resolve) => b.app.events.on((event) => event.type === 'drift' && resolve(event)));
      await request(start, 'http://portmapper/session/?ip=1', { host: '127.0.0.2' });
      expect(await drift).toMatchObject({ sessionId: learnt.session_id, from: learnt.exit.ip, to: moved });
      expect((await storeA.get(start))?.exit?.ip).toBe(moved);
    } finally {
      await b.stop();
      await a.stop();
      await Promise.all([provider.close(), echo.close()]);
    }
  });
});
