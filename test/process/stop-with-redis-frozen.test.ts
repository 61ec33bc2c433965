import { afterAll, beforeAll, expect } from 'vitest';
import { request } from '../helpers/client.js';
import { startAddressEcho, startExitProvider, type AddressEcho, type ExitProvider } from '../helpers/exit-provider.js';
import { freePortRange } from '../helpers/ports.js';
import { describeRedis, itRedis, startRedisServer } from '../helpers/redis-server.js';
import { spawnStickyport, writeConfig } from '../helpers/spawn-stickyport.js';

// SIGTERM while Redis hangs (SIGSTOP: the connection stays open, nothing answers) and an
// identity check is held by the provider: the store's goodbye to Redis must not wait on an
// answer that never comes. The process exits 0 within its drain plus one Redis command timeout.

const EXIT_WITHIN_MS = 7_000;

let provider: ExitProvider;
let echo: AddressEcho;
beforeAll(async () => {
  [provider, echo] = await Promise.all([startExitProvider(), startAddressEcho()]);
});
afterAll(async () => {
  provider.release();
  await Promise.all([provider.close(), echo.close()]);
});

describeRedis('stopping with Redis frozen', () => {
  itRedis('SIGTERM with Redis frozen and an identity check held: exits 0 in time', async () => {
    const redis = await startRedisServer();
    const start = await freePortRange(2);
    const proc = spawnStickyport([
      '--config',
      writeConfig({
        Listen: { Host: '127.0.0.1', PortRange: { Start: start, End: start + 1 }, StickyProxyLifetime: 10 },
        Upstream: { Url: `http://customer-acme-session-{session}:secret@127.0.0.1:${provider.port}` },
        SessionAPI: { Enabled: true, Domain: 'portmapper' },
        SessionStore: { Type: 'redis', RedisUrl: redis.url, KeyPrefix: 'frozen:' },
        Session: { KeepAlive: '1s', KeepAliveUrl: `${echo.url}/keep-alive` },
        Identity: { EchoUrl: `${echo.url}/ip`, Timeout: '30s' },
      }),
    ]);
    try {
      await proc.waitForLine(/stickyport listening/);
      expect((await request(start + 1, `${echo.url}/warm`)).status).toBe(200);
      provider.decide = (seen) => (seen.target.endsWith('/ip') || seen.target.endsWith('/keep-alive') ? 'stall' : undefined);
      const held = Promise.all([provider.waitFor((seen) => seen.target.endsWith('/ip')), provider.waitFor((seen) => seen.target.endsWith('/keep-alive'))]);
      const check = request(start, 'http://portmapper/session/?ip=1').then((answer) => answer.status, () => 0);
      await held;
      redis.freeze();
      const began = Date.now();
      proc.child.kill('SIGTERM');
      expect(await proc.exited).toBe(0);
      expect(Date.now() - began).toBeLessThan(EXIT_WITHIN_MS);
      expect(await check).toBe(503);
      expect(proc.stdout.filter((line) => /BUG/.test(line))).toEqual([]);
    } finally {
      provider.decide = undefined;
      await proc.stop('SIGKILL');
      await redis.stop();
    }
  });
});
