import { lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminClient, startWithAdmin } from '../helpers/admin.js';
import { freePort, freePortRange } from '../helpers/ports.js';
import { startStickyport } from '../helpers/stickyport.js';
import { apiJson, request } from '../helpers/client.js';
import { startOrigin } from '../helpers/origin.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { describeRedis, itRedis, redisForSuite } from '../helpers/redis-server.js';

// Hostile values put straight into a store behind stickyport's back: each must cost only its
// own port's session (a new one is made), throw nothing out of the admin API or the session
// API, and never reach a log line raw (control bytes) or whole (a huge value).

const ID = 'abcdefgh';
const ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const now = Date.now();
const good = { id: ID, createdAt: now, expiresAt: now + 600_000 };
const exit = { ip: '203.0.113.7', country: 'DE', seenAt: now };

/** Stored values (for port `port`) that are not a usable session, each with a name. */
function hostileValues(port: number): Array<[string, unknown]> {
  const base = { ...good, port };
  return [
    ['createdAt past the Date range', { ...base, createdAt: 1e300 }],
    ['createdAt negative past the Date range', { ...base, createdAt: -1e300 }],
    ['expiresAt past the Date range', { ...base, expiresAt: 1e300 }],
    ['expiresAt just past the Date range', { ...base, expiresAt: 8.64e15 + 1 }],
    ['exit.seenAt past the Date range', { ...base, exit: { ...exit, seenAt: 1e300 } }],
    ['exit.seenAt negative past the Date range', { ...base, exit: { ...exit, seenAt: -9e15 } }],
    ['exit.ip a huge string', { ...base, exit: { ...exit, ip: 'x'.repeat(100_000) } }],
    ['exit.ip with an IPv6 zone of 100 000 characters', { ...base, exit: { ...exit, ip: `fe80::1%${'x'.repeat(100_000)}` } }],
    ['exit.ip with an IPv6 zone', { ...base, exit: { ...exit, ip: 'fe80::1%eth0' } }],
    ['exit.ip with control bytes', { ...base, exit: { ...exit, ip: '1.2.3.4\u001b[2J\r\n' } }],
    ['exit.country lower case', { ...base, exit: { ...exit, country: 'de' } }],
    ['exit.seenAt a string', { ...base, exit: { ...exit, seenAt: String(now) } }],
    ['exit with __proto__', JSON.parse(`{"id":"${ID}","port":${port},"createdAt":${now},"expiresAt":${now + 600_000},"exit":{"ip":"1.2.3.4","seenAt":${now},"__proto__":{"polluted":true}}}`)],
    ['params __proto__', JSON.parse(`{"id":"${ID}","port":${port},"createdAt":${now},"expiresAt":${now + 600_000},"params":{"__proto__":{"polluted":true}}}`)],
    ['params constructor', { ...base, params: { constructor: 'x' } }],
    ['params wrong type', { ...base, params: { country: 7 } }],
    ['id of another alphabet', { ...base, id: 'abc:ef@h' }],
    ['id huge', { ...base, id: 'a'.repeat(100_000) }],
  ];
}

describeRedis('hostile session values in Redis', () => {
  const redis = redisForSuite();
  let upstream: RecordingUpstream;
  beforeAll(async () => {
    upstream = await startRecordingUpstream();
  });
  afterAll(async () => {
    await upstream?.close();
  });

  itRedis('each hostile Redis value is that port\'s missing session; the admin API and the other ports are unaffected', async () => {
    const proxy = await startWithAdmin(
      {
        Upstream: { Url: `http://customer-country-{country}-session-{session}:secret@127.0.0.1:${upstream.port}`, Parameters: { country: 'us' } },
        Session: { IdLength: 8, IdAlphabet: ALPHABET },
        SessionStore: { Type: 'redis', RedisUrl: redis.server.url, KeyPrefix: 'hostile:' },
      },
      { portCount: 2 },
    );
    const [port, other] = proxy.ports as [number, number];
    try {
      const otherId = (await apiJson<{ session_id: string }>(other, '/session/')).session_id;
      const wrong: string[] = [];
      for (const [name, value] of hostileValues(port)) {
        await redis.raw.set(`hostile:port:${port}`, JSON.stringify(value), 'PX', 600_000);
        const answer = await apiJson<{ session_id: string }>(port, '/session/');
        if (answer.session_id === ID) wrong.push(`${name}: the stored id was used`);
        const one = await proxy.admin.get(`/api/ports/${port}`);
        if (one.status !== 200) wrong.push(`${name}: /api/ports/N answered ${one.status}`);
        const all = await proxy.admin.get('/api/ports');
        if (all.status !== 200) wrong.push(`${name}: /api/ports answered ${all.status}`);
        if ((await apiJson<{ session_id: string }>(other, '/session/')).session_id !== otherId) wrong.push(`${name}: the other port changed`);
      }
      expect(wrong).toEqual([]);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      for (const line of proxy.logs) {
        expect(line).not.toMatch(/[\u0000-\u001f]/);
        expect(line.length).toBeLessThan(4_000);
        expect(line).not.toContain('BUG');
      }
    } finally {
      await proxy.stop();
    }
  });

  /** Settings for a stickyport on this suite's Redis under `prefix`, through the recording upstream. */
  const onRedis = (prefix: string) => ({
    Upstream: { Url: `http://customer-session-{session}:secret@127.0.0.1:${upstream.port}` },
    Session: { IdLength: 8, IdAlphabet: ALPHABET },
    SessionStore: { Type: 'redis', RedisUrl: redis.server.url, KeyPrefix: prefix },
  });

  // A value of many MB at one port's key was read whole: past Redis' commandTimeout it counted as
  // Redis being down, for every port. Values are read only as far as a session could reach.
  itRedis('a Redis value of 8 MB costs its port only: read no further than 64 KiB, replaced, the store stays up', async () => {
    const proxy = await startWithAdmin(onRedis('huge:'), { portCount: 2 });
    const [port] = proxy.ports as [number, number];
    const sent = async (): Promise<number> => Number(/total_net_output_bytes:(\d+)/.exec(await redis.raw.info('stats'))![1]);
    try {
      await redis.raw.set(`huge:port:${port}`, Buffer.alloc(8 * 1024 * 1024, 'x'), 'PX', 600_000);
      const before = await sent();
      const answer = await apiJson<{ session_id: string }>(port, '/session/');
      expect(answer.session_id).toMatch(/^[A-Za-z0-9]{8}$/);
      expect(JSON.parse((await redis.raw.get(`huge:port:${port}`))!).id).toBe(answer.session_id);
      const all = await proxy.admin.get('/api/ports');
      expect(all.status).toBe(200);
      // What Redis sent stickyport meanwhile (and this test's own small reads): far below the 8 MB.
      expect((await sent()) - before).toBeLessThan(1024 * 1024);
      expect((await proxy.admin.get('/readyz')).json.store).toMatchObject({ state: 'up' });
      expect(proxy.logs.some((line) => line.includes('too large'))).toBe(true);
    } finally {
      await proxy.stop();
    }
  });

  // Bytes that are not UTF-8 came back altered when read as text: the conditional write then
  // never matched what Redis held, and the port answered 500 (the API 503) until a /session/new.
  itRedis('a Redis value that is not UTF-8 is the port\'s missing session too: replaced at the next request', async () => {
    const proxy = await startStickyport(onRedis('bytes:'), { portCount: 1 });
    const port = proxy.ports[0]!;
    const origin = await startOrigin();
    const json = (id: string): string => JSON.stringify({ ...good, id, port });
    const CASES: Array<[string, Buffer]> = [
      ['one byte 0xFF', Buffer.from([0xff])],
      ['a cut two-byte sequence', Buffer.from([0xc3])],
      ['an overlong slash', Buffer.from([0xc0, 0xaf])],
      ['a lone surrogate', Buffer.from([0xed, 0xa0, 0x80])],
      ['JSON with 0xFF in the id', Buffer.concat([Buffer.from(json('abcdefg').slice(0, 14)), Buffer.from([0xff]), Buffer.from(json('abcdefg').slice(14))])],
      ['JSON then 0xFE', Buffer.concat([Buffer.from(json(ID)), Buffer.from([0xfe])])],
    ];
    try {
      const wrong: string[] = [];
      for (const [name, bytes] of CASES) {
        await redis.raw.set(`bytes:port:${port}`, bytes, 'PX', 600_000);
        const before = upstream.seen.length;
        const answer = await request(port, `${origin.url}/`);
        if (answer.status !== 200 || upstream.seen.length !== before + 1) wrong.push(`${name}: the request got ${answer.status}`);
        const stored = await redis.raw.get(`bytes:port:${port}`);
        const id = upstream.seen.at(-1)?.session;
        if (!stored || !id || JSON.parse(stored).id !== id) wrong.push(`${name}: Redis holds ${JSON.stringify(stored)}, the upstream saw ${id}`);
        const api = await request(port, 'http://portmapper/session/');
        if (api.status !== 200 || JSON.parse(api.body).session_id !== id) wrong.push(`${name}: the API answered ${api.status} ${api.body}`);
      }
      expect(wrong).toEqual([]);
      for (const line of proxy.logs) expect(line).not.toContain('BUG');
    } finally {
      await proxy.stop();
      await origin.close();
    }
  });
});

describe('hostile session files', () => {
  let upstream: RecordingUpstream;
  beforeAll(async () => {
    upstream = await startRecordingUpstream();
  });
  afterAll(async () => {
    await upstream?.close();
  });

  async function startOn(file: string, startPort?: number) {
    const adminPort = await freePort();
    const proxy = await startStickyport(
      {
        Admin: { Enabled: true, Port: adminPort },
        Upstream: { Url: `http://customer-country-{country}-session-{session}:secret@127.0.0.1:${upstream.port}`, Parameters: { country: 'us' } },
        Session: { IdLength: 8, IdAlphabet: ALPHABET },
        SessionStore: { Type: 'file', Path: file },
      },
      { portCount: 2, startPort },
    );
    return Object.assign(proxy, { admin: adminClient(adminPort) });
  }

  it('a file of hostile entries: each is its port\'s missing session, the admin API answers', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'stickyport-hostile-file-'));
    const file = path.join(dir, 'sessions.json');
    const port = await freePortRange(2);
    const other = port + 1;
    const wrong: string[] = [];
    for (const [name, value] of hostileValues(port)) {
      const otherSession = { ...good, id: 'zzzzzzzz', port: other };
      writeFileSync(file, JSON.stringify({ version: 1, sessions: [value, otherSession] }));
      const proxy = await startOn(file, port);
      try {
        const answer = await apiJson<{ session_id: string }>(port, '/session/');
        if (answer.session_id === ID) wrong.push(`${name}: the stored id was used`);
        if ((await apiJson<{ session_id: string }>(other, '/session/')).session_id !== 'zzzzzzzz') wrong.push(`${name}: the other port changed`);
        const one = await proxy.admin.get(`/api/ports/${port}`);
        if (one.status !== 200) wrong.push(`${name}: /api/ports/N answered ${one.status}`);
        const all = await proxy.admin.get('/api/ports');
        if (all.status !== 200) wrong.push(`${name}: /api/ports answered ${all.status}`);
        for (const line of proxy.logs) expect(line, name).not.toMatch(/[\u0000-\u001f]/);
      } finally {
        await proxy.stop();
      }
    }
    expect(wrong).toEqual([]);
  }, 60_000);

  it('truncated JSON, a directory, a symlink to a directory, a dangling symlink: starts, serves, answers', async () => {
    const port = await freePortRange(2);
    const cases: Array<[string, (file: string) => void]> = [
      ['truncated JSON', (file) => writeFileSync(file, JSON.stringify({ version: 1, sessions: [{ ...good, port }] }).slice(0, 30))],
      // Each entry too deep for JSON.stringify and String(), the log line's description of it.
      ['an entry nested 200 000 deep', (file) => writeFileSync(file, `{"version":1,"sessions":[${'['.repeat(200_000)}${']'.repeat(200_000)}]}`)],
      ['an object entry nested 200 000 deep', (file) => writeFileSync(file, `{"version":1,"sessions":[{"port":${port},"id":${'['.repeat(200_000)}${']'.repeat(200_000)}}]}`)],
      ['a dangling symlink', (file) => symlinkSync(path.join(tmpdir(), 'stickyport-nowhere', 'x.json'), file)],
    ];
    for (const [name, make] of cases) {
      const file = path.join(mkdtempSync(path.join(tmpdir(), 'stickyport-hostile-file-')), 'sessions.json');
      make(file);
      const proxy = await startOn(file, port);
      try {
        const answer = await apiJson<{ session_id: string }>(port, '/session/');
        expect(answer.session_id, name).toMatch(/^[A-Za-z0-9]{8}$/);
        expect((await proxy.admin.get(`/api/ports/${port}`)).status, name).toBe(200);
        const renewed = await apiJson<{ session_id: string }>(port, '/session/new');
        expect(renewed.session_id, name).not.toBe(answer.session_id);
      } finally {
        await proxy.stop().catch(() => undefined);
      }
    }
  }, 60_000);

  // A path that cannot be read at start is never written over (it may hold sessions). Nothing is
  // saved then, so nothing the API would name or change can be promised to survive a crash:
  // the session API answers 503 (it answered 200 and saved nothing), traffic is served, and
  // once the path holds no file, saving starts.
  it('a directory, or a symlink to one, at the path: traffic served, the session API 503 naming the file, until the path is free', async () => {
    const port = await freePortRange(2);
    const cases: Array<[string, (file: string) => string]> = [
      ['a directory', (file) => (mkdirSync(file), file)],
      ['a symlink to a directory', (file) => {
        const dir = mkdtempSync(path.join(tmpdir(), 'stickyport-dir-'));
        symlinkSync(dir, file);
        return dir;
      }],
    ];
    for (const [name, make] of cases) {
      const file = path.join(mkdtempSync(path.join(tmpdir(), 'stickyport-hostile-file-')), 'sessions.json');
      const blocker = make(file);
      const proxy = await startOn(file, port);
      try {
        expect((await request(port, 'http://127.0.0.1:9/x')).status, name).not.toBe(503);
        for (const call of ['/session/', '/session/new', '/session/reset']) {
          const answer = await request(port, `http://portmapper${call}`);
          expect(answer.status, `${name} ${call}`).toBe(503);
          expect(answer.body, `${name} ${call}`).toContain('could not be read at start');
        }
        expect((await proxy.admin.get('/readyz')).json.store, name).toEqual({ kind: 'file', state: 'fallback' });
        // The directory goes (a symlink stays, and is followed: saves go where it points).
        rmSync(blocker, { recursive: true });
        const renewed = (await apiJson<{ session_id: string }>(port, '/session/new')).session_id;
        expect(JSON.parse(readFileSync(file, 'utf8')).sessions.map((session: { id: string }) => session.id), name).toContain(renewed);
        expect((await proxy.admin.get('/readyz')).json.store, name).toEqual({ kind: 'file', state: 'up' });
      } finally {
        await proxy.stop().catch(() => undefined);
      }
    }
  });

  it('a symlink to a file that does not exist yet: saves go to its target, the link stays', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'stickyport-hostile-file-'));
    const target = path.join(dir, 'real', 'sessions.json');
    const file = path.join(dir, 'sessions.json');
    symlinkSync(target, file);
    const proxy = await startOn(file);
    try {
      const renewed = (await apiJson<{ session_id: string }>(proxy.ports[0]!, '/session/new')).session_id;
      expect(lstatSync(file).isSymbolicLink()).toBe(true);
      expect(JSON.parse(readFileSync(target, 'utf8')).sessions.map((session: { id: string }) => session.id)).toContain(renewed);
    } finally {
      await proxy.stop();
    }
  });

  it('a chain of symlinks with a dangling end: saves go to the end, every link stays', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'stickyport-hostile-file-'));
    const [first, middle, end] = ['a.json', 'b.json', 'c.json'].map((name) => path.join(dir, name)) as [string, string, string];
    symlinkSync('b.json', first);
    symlinkSync(end, middle);
    const proxy = await startOn(first);
    try {
      const renewed = (await apiJson<{ session_id: string }>(proxy.ports[0]!, '/session/new')).session_id;
      expect([lstatSync(first).isSymbolicLink(), lstatSync(middle).isSymbolicLink()]).toEqual([true, true]);
      expect(JSON.parse(readFileSync(end, 'utf8')).sessions.map((session: { id: string }) => session.id)).toContain(renewed);
    } finally {
      await proxy.stop();
    }
  });

  it('a symlink loop: the session API 503 naming the configured path; once that link goes, saves go there', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'stickyport-hostile-file-'));
    const [file, other] = [path.join(dir, 'x.json'), path.join(dir, 'y.json')];
    symlinkSync('y.json', file);
    symlinkSync('x.json', other);
    const proxy = await startOn(file);
    try {
      const refused = await request(proxy.ports[0]!, 'http://portmapper/session/');
      expect(refused.status).toBe(503);
      expect(refused.body).toContain(`${file} could not be read at start (ELOOP)`);
      rmSync(file);
      const renewed = (await apiJson<{ session_id: string }>(proxy.ports[0]!, '/session/new')).session_id;
      expect(lstatSync(file).isFile()).toBe(true);
      expect(lstatSync(other).isSymbolicLink()).toBe(true);
      expect(JSON.parse(readFileSync(file, 'utf8')).sessions.map((session: { id: string }) => session.id)).toContain(renewed);
    } finally {
      await proxy.stop();
    }
  });

  it('the file replaced by a directory while running: /session/new answers 503 and the port keeps its session; once the directory goes, saving resumes', async () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'stickyport-hostile-file-')), 'sessions.json');
    const proxy = await startOn(file);
    const [port] = proxy.ports as [number, number];
    try {
      const first = (await apiJson<{ session_id: string }>(port, '/session/new')).session_id;
      rmSync(file);
      mkdirSync(file);
      const refused = await request(port, 'http://portmapper/session/new');
      expect(refused.status).toBe(503);
      expect((await apiJson<{ session_id: string }>(port, '/session/')).session_id).toBe(first);
      const viaAdmin = await proxy.admin.post(`/api/ports/${port}/new`);
      expect(viaAdmin.status).toBe(503);
      expect((await proxy.admin.get(`/api/ports/${port}`)).json.session.id).toBe(first);
      rmSync(file, { recursive: true });
      const renewed = (await apiJson<{ session_id: string }>(port, '/session/new')).session_id;
      expect(renewed).not.toBe(first);
      expect(JSON.parse(readFileSync(file, 'utf8')).sessions.map((session: { id: string }) => session.id)).toContain(renewed);
    } finally {
      await proxy.stop();
    }
  });
});
