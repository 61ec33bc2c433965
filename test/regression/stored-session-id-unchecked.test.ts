// Regression: a session read back from a store reached the upstream as it was. An id written
// into Redis or the session file by someone else (`ab:cdefg`, `ab@cdefg`) went into the proxy
// user name, and an id with `:` made every request through its port a 500. Stored ids are now
// checked against Session.IdLength and Session.IdAlphabet; one that breaks them is the port's
// missing session: the next request gets a fresh id, and the other ports keep theirs.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { request } from '../helpers/client.js';
import { freePortRange } from '../helpers/ports.js';
import { describeRedis, redisForSuite } from '../helpers/redis-server.js';
import { startStack, type Stack } from '../helpers/stack.js';

const PLANTED = ['ab:cdefg', 'ab@cdefg', 'ab-cdefg', 'ab cdefg', 'abcdefghi', 'abcdefg', ''];
const USER = /^customer-acme-session-([a-zA-Z]{8})$/;

describe('a stored session id that breaks the id rule never reaches the upstream', () => {
  let stack: Stack | undefined;
  afterEach(async () => {
    await stack?.stop();
    stack = undefined;
  });

  /** The user name the upstream saw for one request through `port`, which must succeed. */
  async function userThrough(port: number, marker: string): Promise<string> {
    const answer = await request(port, `${stack!.origin.url}/${marker}`);
    expect(answer).toMatchObject({ status: 200, body: 'hello' });
    return stack!.upstream.seen.find((entry) => entry.target.endsWith(`/${marker}`))!.username;
  }

  /** Every planted port answers through a fresh, valid id; the last port keeps `keptId`. */
  async function expectFreshIds(ports: number[], keptId: string): Promise<void> {
    for (const [i, port] of ports.slice(0, PLANTED.length).entries()) {
      expect(await userThrough(port, `planted-${i}`)).toMatch(USER);
    }
    expect(await userThrough(ports[PLANTED.length]!, 'kept')).toBe(`customer-acme-session-${keptId}`);
    const warnings = stack!.proxy.logs.map((line) => JSON.parse(line)).filter((entry) => /unusable stored session/.test(entry.msg));
    expect(warnings.map((entry) => entry.port).sort()).toEqual(ports.slice(0, PLANTED.length));
  }

  const session = (id: string, port: number) => ({ id, port, createdAt: Date.now(), expiresAt: Date.now() + 600_000 });

  it('in the session file', async () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'stickyport-planted-')), 'sessions.json');
    const start = await freePortRange(PLANTED.length + 1);
    const ports = Array.from({ length: PLANTED.length + 1 }, (_, i) => start + i);
    const sessions = [...PLANTED.map((id, i) => session(id, ports[i]!)), session('KeptIdAa', ports[PLANTED.length]!)];
    writeFileSync(file, JSON.stringify({ version: 1, sessions }));
    stack = await startStack({ SessionStore: { Type: 'file', Path: file } }, { portCount: ports.length, startPort: start });
    await expectFreshIds(ports, 'KeptIdAa');
  });

  describeRedis('with the Redis store (Redis)', () => {
    const redis = redisForSuite();
    it('in Redis (Redis)', async () => {
      const keyPrefix = `planted-${randomBytes(4).toString('hex')}:`;
      stack = await startStack(
        { SessionStore: { Type: 'redis', RedisUrl: redis.server.url, KeyPrefix: keyPrefix } },
        { portCount: PLANTED.length + 1 },
      );
      const ports = stack.proxy.ports;
      for (const [i, id] of [...PLANTED, 'KeptIdAa'].entries()) {
        await redis.raw.set(`${keyPrefix}port:${ports[i]}`, JSON.stringify(session(id, ports[i]!)), 'PX', 600_000);
      }
      await expectFreshIds(ports, 'KeptIdAa');
    });
  });
});
