import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect, it } from 'vitest';
import { createApp } from '../../src/app.js';
import { loadConfig, reloadLoader } from '../../src/config/load.js';
import { createLogger } from '../../src/logging/logger.js';
import { freePortRange } from '../helpers/ports.js';
import { describeRedis, redisForSuite } from '../helpers/redis-server.js';
import { startSocksUpstream } from '../helpers/socks-upstream.js';
import { startTcpRelay } from '../helpers/tcp-relay.js';
import { ParameterError } from '../../src/session/parameters.js';
import { startsOutage } from '../../src/store/redis-errors.js';

// s33 second pass G1: parameters a client asked for were checked against the SOCKS5 login when
// asked; a rotation waiting for the store behind another one then made its session under the
// settings of a reload applied meanwhile, which had lengthened the login past them. 181e0cf made
// that session without them (200, an exit of any country); before it, with them (every tunnel
// 502). Asked for now, they get their 400; only values carried over are left out.

describeRedis('parameters asked for while a rotation waits and a reload lengthens the SOCKS5 login (Redis)', () => {
  const redis = redisForSuite();

  it('the waiting rotation is refused 400 and the port keeps the session before it (Redis)', async () => {
    const socks = await startSocksUpstream('pw');
    const relay = await startTcpRelay(redis.server.port);
    const port = await freePortRange(1);
    const dir = mkdtempSync(path.join(tmpdir(), 'stickyport-reload-rotation-'));
    const prefix = `rr-${randomBytes(4).toString('hex')}:`;
    const write = (user: string) =>
      writeFileSync(
        path.join(dir, 'appsettings.json'),
        JSON.stringify({
          Listen: { Host: '127.0.0.1', PortRange: { Start: port, End: port } },
          Upstream: { Url: `socks5h://${user}-{session}-c-{country}:pw@127.0.0.1:${socks.port}`, Parameters: { country: '' } },
          Authentication: { ParseUsernameParameters: true },
          SessionStore: { Type: 'redis', RedisUrl: `redis://127.0.0.1:${relay.port}`, KeyPrefix: prefix },
        }),
      );
    write('u');
    const options = { cwd: dir, env: {} };
    const app = await createApp(loadConfig(options), { log: createLogger('silent'), loadConfig: reloadLoader(options) });
    await app.start();
    try {
      const state = app.ports.get(port);
      await state.renew();
      // The first rotation's write is caught on its way to Redis; the second waits behind it.
      const caught = relay.holdNext((chunk) => chunk.includes(`${prefix}port:${port}`));
      const first = state.renew({ country: 'de' });
      const release = await caught;
      const asked = 'v'.repeat(60);
      const second = state.renew({ country: asked });
      // Meanwhile a reload lengthens the login: 60 characters of country no longer fit.
      write('u'.repeat(190));
      expect(await app.reload('test')).toMatchObject({ applied: true });
      release();
      const made = await first;
      expect(made.params).toEqual({ country: 'de' });
      await expect(second).rejects.toMatchObject({ status: 400, code: 'BAD_PARAMETER', message: expect.stringMatching(/SOCKS5 user name would be \d+ bytes long/) });
      expect(state.session?.id).toBe(made.id);
      expect(state.session?.params).toEqual({ country: 'de' });
    } finally {
      await app.stop(100);
      await relay.close();
      await socks.close();
    }
  });

  // The same refusal can be thrown while a first request's session is made inside a store call:
  // it is the request's 400, not Redis going away (which would serve every port locally).
  it('a refusal of the request thrown inside a store call starts no outage (Redis)', () => {
    expect(startsOutage(new ParameterError('the parameters asked for cannot go into this upstream\'s login'))).toBe(false);
    expect(startsOutage(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))).toBe(true);
  });
});
