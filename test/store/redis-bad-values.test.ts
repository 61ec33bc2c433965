import { randomBytes } from 'node:crypto';
import { expect, it } from 'vitest';
import { createLogger } from '../../src/logging/logger.js';
import { followsIdRule } from '../../src/session/session.js';
import { RedisSessionStore } from '../../src/store/redis-store.js';
import { describeRedis, redisForSuite, startRedisServer } from '../helpers/redis-server.js';
import { logSink } from '../helpers/stickyport.js';
import { makeSession, TEST_ID_RULE, UNUSABLE, waitUntil } from './session-store.contract.js';

const OUTAGE = 'Redis is unreachable: serving sessions from local memory until it is back';
const RECOVERED = 'Redis is back: local sessions reconciled';
const MARK_REPLACED = 'the data-set mark in Redis was no mark: replaced it with a new one; instances that knew the old one write back the sessions Redis lacks at their next recovery';

/** A store on `url` under a fresh prefix, with its log. */
async function openLogged(url: string) {
  const prefix = `bad-${randomBytes(4).toString('hex')}:`;
  const sink = logSink();
  const store = await RedisSessionStore.open({ url, keyPrefix: prefix, log: createLogger('debug', sink.stream), idRule: TEST_ID_RULE });
  const logged = (msg: string) => sink.lines.map((line) => JSON.parse(line)).filter((entry) => entry.msg === msg);
  return { store, logged, key: (port: number) => `${prefix}port:${port}` };
}

describeRedis('RedisSessionStore and values it cannot use (Redis)', () => {
  const redis = redisForSuite();

  // s32 reset-mark pass F6: a reset of a key holding no session of the port (garbage, a hash, a
  // hand-written mark, another port's session) answered and logged as the reset of a session
  // (`changed: true` from the admin API). The value is read in the reset's own transaction and
  // judged as a read judges it.
  it('a reset of a value that is no session of the port is no reset of a session; of a session it is (Redis)', async () => {
    const { store, key } = await openLogged(redis.server.url);
    try {
      const other = makeSession(3);
      const values: Array<[number, string]> = [
        [120, 'not json {{{'],
        [121, JSON.stringify({ ...other, port: 3 })],
        [122, '{"reset":true}'],
        [123, ''],
      ];
      for (const [port, value] of values) await redis.raw.set(key(port), value, 'PX', 60_000);
      await redis.raw.hset(key(124), 'id', other.id);
      // The scripts are loaded again inside the transaction when Redis has forgotten them.
      await redis.raw.script('FLUSH');
      for (const port of [120, 121, 122, 123, 124]) expect(await store.delete(port), `port ${port}`).toBe(false);
      expect(await store.delete(125)).toBe(false);
      const real = await store.getOrCreate(126, () => makeSession(126));
      expect(await store.delete(126)).toBe(true);
      expect(await redis.raw.get(key(126))).toBe(`{"reset":true,"ended":"${real.id}"}`);
      expect(await store.delete(126)).toBe(false);
    } finally {
      await store.close();
    }
  });

  it('garbage, incomplete JSON, mistyped fields, another port\'s session or a hash under one port\'s key: that port gets a new session, no outage, others keep theirs (Redis)', async () => {
    const { store, logged, key } = await openLogged(redis.server.url);
    try {
      const others = await Promise.all([1, 2, 3].map((port) => store.getOrCreate(port, () => makeSession(port))));
      const valid = makeSession(0);
      const bad: Array<[number, string]> = [
        [100, 'not json {{{'],
        [101, JSON.stringify({ id: valid.id, port: 101, createdAt: valid.createdAt })], // no expiresAt: the script raised on it
        [102, JSON.stringify({ id: valid.id, port: 102, createdAt: valid.createdAt, expiresAt: 'tomorrow' })],
        [103, JSON.stringify({ ...valid, port: 104 })],
        [104, JSON.stringify({ ...valid, port: '104' })],
        [105, 'null'],
        [106, '[1,2,3]'],
        [107, '42'],
        [108, ''],
        [109, JSON.stringify({ ...valid, port: 109, id: 'a:b@c-d e' })],
        // A creation time far ahead of this clock: read afresh on every request, it kept the id for good.
        [111, JSON.stringify({ ...valid, port: 111, createdAt: 8e15, expiresAt: null })],
      ];
      for (const [port, value] of bad) await redis.raw.set(key(port), value, 'PX', 60_000);
      await redis.raw.hset(key(110), 'id', valid.id);
      const badPorts = [...bad.map(([port]) => port), 110];

      // Read first (get and list leave the value alone), then create: one warning per port.
      for (const port of badPorts) expect(await store.get(port)).toBeUndefined();
      expect((await store.list()).map((session) => session.port).sort()).toEqual([1, 2, 3]);
      for (const port of badPorts) {
        const fresh = await store.getOrCreate(port, () => makeSession(port));
        expect(followsIdRule(fresh.id, TEST_ID_RULE)).toBe(true);
        expect(JSON.parse((await redis.raw.get(key(port)))!)).toEqual(fresh);
        expect(await store.getOrCreate(port, () => makeSession(port))).toEqual(fresh);
      }
      for (const session of others) expect(await store.get(session.port)).toEqual(session);

      expect(logged(OUTAGE)).toEqual([]);
      // An empty string reads as no value at all (values are read with GETRANGE, which answers ""
      // for a missing key too): replaced like the others, without a warning.
      expect(logged(UNUSABLE).map((entry) => entry.port).sort((a, b) => a - b)).toEqual(badPorts.filter((port) => port !== 108).sort((a, b) => a - b));
    } finally {
      await store.close();
    }
  });

  it('a bad value someone keeps writing is logged once per value, not on every read (Redis)', async () => {
    const { store, logged, key } = await openLogged(redis.server.url);
    try {
      await redis.raw.set(key(5), 'junk');
      for (let i = 0; i < 20; i++) expect(await store.get(5)).toBeUndefined();
      expect(logged(UNUSABLE)).toEqual([expect.objectContaining({ port: 5, value: 'junk', level: 40 })]);
      await redis.raw.set(key(5), 'x'.repeat(10_000));
      for (let i = 0; i < 20; i++) await store.list();
      expect(logged(UNUSABLE)).toHaveLength(2);
      expect(logged(UNUSABLE)[1].value).toBe(`${'x'.repeat(40)}... (10000 chars)`);
    } finally {
      await store.close();
    }
  });

  // The mark script's GET raised WRONGTYPE on a key of another type, and every caller took that
  // for Redis being down: a list at <prefix>data-set sent the store into an outage that never
  // ended, serving a local id while Redis held the port's session. A mark that cannot be read
  // is a lost mark: replaced, logged once.
  it('a data-set mark of another type, or a string no mark can be, is replaced: no outage, the stored session served (Redis)', async () => {
    const spoil: Array<[string, (key: string) => Promise<unknown>]> = [
      ['a list', (key) => redis.raw.rpush(key, 'hostile')],
      ['a hash', (key) => redis.raw.hset(key, 'a', 'b')],
      ['a string of 1 MB', (key) => redis.raw.set(key, 'x'.repeat(1024 * 1024))],
      ['an empty string', (key) => redis.raw.set(key, '')],
    ];
    for (const [name, write] of spoil) {
      const prefix = `mark-${randomBytes(4).toString('hex')}:`;
      const stored = makeSession(7);
      await redis.raw.set(`${prefix}port:7`, JSON.stringify(stored), 'PX', 60_000);
      await write(`${prefix}data-set`);
      const sink = logSink();
      const store = await RedisSessionStore.open({ url: redis.server.url, keyPrefix: prefix, log: createLogger('debug', sink.stream), idRule: TEST_ID_RULE });
      const logged = (msg: string) => sink.lines.map((line) => JSON.parse(line)).filter((entry) => entry.msg === msg);
      try {
        expect(store.health(), name).toEqual({ state: 'up', outages: 0 });
        expect(await store.get(7), name).toEqual(stored);
        expect(logged(OUTAGE), name).toEqual([]);
        expect(logged(MARK_REPLACED), name).toHaveLength(1);
        expect(await redis.raw.type(`${prefix}data-set`), name).toBe('string');
        expect((await redis.raw.get(`${prefix}data-set`))!, name).toMatch(/^[0-9a-f]{16}$/);
      } finally {
        await store.close();
      }
    }
  });

  it('a data-set mark turned into a list during an outage does not keep the outage going (Redis)', async () => {
    const server = await startRedisServer();
    const { Redis } = await import('ioredis');
    const { store, logged, key } = await openLogged(server.url);
    const mark = key(0).replace(/port:0$/, 'data-set');
    try {
      await store.getOrCreate(1, () => makeSession(1));
      await server.kill();
      const made = await store.getOrCreate(2, () => makeSession(2));
      expect(store.health().state).toBe('fallback');
      // Long enough for the store's reconnects to back off to 1 s apart: the list is in place
      // well before its next attempt.
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      await server.restart();
      const admin = new Redis(server.url);
      await admin.rpush(mark, 'hostile');
      await admin.quit();
      await waitUntil(() => logged(RECOVERED).length > 0 || logged('Redis not back yet').some((entry) => /WRONGTYPE/.test(entry.err)), 10_000, 'recovery');
      expect(logged(RECOVERED)).toHaveLength(1);
      expect(logged(MARK_REPLACED)).toHaveLength(1);
      expect(await store.get(2)).toEqual(made);
    } finally {
      await store.close();
      await server.stop();
    }
  });

  it('a Redis that refuses every write (out of memory) is an outage: traffic goes local until it writes again (Redis)', async () => {
    // Its own server: the test changes the server's settings.
    const server = await startRedisServer();
    const { store, logged, key } = await openLogged(server.url);
    const { Redis } = await import('ioredis');
    const admin = new Redis(server.url);
    try {
      const kept = await store.getOrCreate(1, () => makeSession(1));
      await admin.config('SET', 'maxmemory', '1');
      const made = await store.getOrCreate(2, () => makeSession(2));
      expect(logged(OUTAGE)).toHaveLength(1);
      expect(await store.get(1)).toEqual(kept);
      await admin.config('SET', 'maxmemory', '0');
      await waitUntil(() => logged(RECOVERED).length > 0, 5_000, 'recovery');
      expect(JSON.parse((await admin.get(key(2)))!)).toEqual(made);
    } finally {
      await store.close();
      await admin.quit();
      await server.stop();
    }
  });
});
