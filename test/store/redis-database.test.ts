// Regression (adversarial review): a RedisUrl naming a database the server does not have
// (`/99999` on a Redis with the default 16) started as if all was well and wrote every session
// into database 0: ioredis SELECTs on connecting and only emits the refusal, and its next
// commands go to database 0. The store now stays in its outage (sessions served from local
// memory, /readyz `fallback`), logs the server's answer naming SessionStore.RedisUrl, and never
// writes to another database.
import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { expect, it } from 'vitest';
import { createLogger } from '../../src/logging/logger.js';
import { RedisSessionStore } from '../../src/store/redis-store.js';
import { describeRedis, redisForSuite, startRedisServer } from '../helpers/redis-server.js';
import { logSink } from '../helpers/stickyport.js';
import { makeSession, TEST_ID_RULE } from './session-store.contract.js';

describeRedis('RedisSessionStore on a database the server refuses (Redis)', () => {
  const redis = redisForSuite();

  it('serves from local memory and writes nothing to database 0, logging the refusal (Redis)', async () => {
    const keyPrefix = `db-${randomBytes(4).toString('hex')}:`;
    const sink = logSink();
    const store = await RedisSessionStore.open({ url: `${redis.server.url}/99999`, keyPrefix, log: createLogger('debug', sink.stream), idRule: TEST_ID_RULE });
    try {
      const made = await store.getOrCreate(1, () => makeSession(1));
      expect(await store.get(1)).toEqual(made);
      await store.replace(makeSession(2));
      // Long enough for 'ready' and a few recovery probes (500 ms apart) to have written it back.
      await delay(1_500);
      expect(store.health()).toMatchObject({ state: 'fallback' });
      expect(await redis.raw.keys(`${keyPrefix}*`)).toEqual([]); // the test may use KEYS on its own tiny Redis
      const entries = sink.lines.map((line) => JSON.parse(line) as Record<string, unknown>);
      expect(entries.filter((entry) => String(entry.msg).includes('SessionStore.RedisUrl'))).toEqual([
        expect.objectContaining({ level: 50, key: 'SessionStore.RedisUrl', answer: expect.stringContaining('DB index is out of range') }),
      ]);
      expect(entries.some((entry) => String(entry.msg).startsWith('Redis is back'))).toBe(false);
      // A /session/reset now is refused naming the cause: asking again will not help until it is fixed.
      await expect(store.delete(1, { acknowledged: true })).rejects.toThrow(/^Redis refused the database of SessionStore\.RedisUrl, so the rotation was not made/);
      // Redis answered: it is not "unreachable" (a second error line said so, hiding the cause).
      expect(entries.filter((entry) => String(entry.msg).includes('unreachable'))).toEqual([]);
      // The stop neither: the rotation it acknowledged cannot be saved, and the stop says so
      // (it wrote it into database 0 and stopped cleanly, before).
      await expect(store.close()).rejects.toThrow(/did not take the rotations made while it was away: port 2/);
      expect(await redis.raw.keys(`${keyPrefix}*`)).toEqual([]);
    } finally {
      await store.close().catch(() => undefined);
    }
  });

  it('a database the server has is used, and nothing lands in database 0 (Redis)', async () => {
    const keyPrefix = `db-${randomBytes(4).toString('hex')}:`;
    const store = await RedisSessionStore.open({ url: `${redis.server.url}/3`, keyPrefix, log: createLogger('silent'), idRule: TEST_ID_RULE });
    try {
      const made = await store.getOrCreate(1, () => makeSession(1));
      expect(store.health()).toMatchObject({ state: 'up' });
      expect(await redis.raw.keys(`${keyPrefix}*`)).toEqual([]);
      await redis.raw.select(3);
      expect(JSON.parse((await redis.raw.get(`${keyPrefix}port:1`))!)).toEqual(made);
    } finally {
      await redis.raw.select(0);
      await store.close();
    }
  });

  // A wrong password with a database in the URL: ioredis's SELECT was answered NOAUTH, taken for
  // a database refusal, and logged so again at every reconnect, about once a second, forever;
  // the login, the real cause, was never named.
  it('a wrong password with a database in the URL is logged as a refused login, once, never as a refused database (Redis)', async () => {
    const server = await startRedisServer();
    const { Redis } = await import('ioredis');
    const admin = new Redis(server.url);
    await admin.config('SET', 'requirepass', 'right-password');
    await admin.quit();
    const sink = logSink();
    const url = `redis://:wrong-password@127.0.0.1:${server.port}/3`;
    const store = await RedisSessionStore.open({ url, keyPrefix: 'auth:', log: createLogger('debug', sink.stream), idRule: TEST_ID_RULE });
    try {
      expect(await store.getOrCreate(1, () => makeSession(1))).toMatchObject({ port: 1 });
      // Several reconnects' worth (they back off to 1 s apart).
      await delay(3_500);
      expect(store.health()).toMatchObject({ state: 'fallback', outages: 1 });
      const entries = sink.lines.map((line) => JSON.parse(line) as Record<string, unknown>);
      expect(entries.filter((entry) => String(entry.msg).includes('refused the database'))).toEqual([]);
      const warned = entries.filter((entry) => (entry.level as number) >= 40);
      expect(warned).toEqual([expect.objectContaining({ level: 50, msg: expect.stringContaining('login') })]);
      expect(JSON.stringify(warned[0])).toMatch(/WRONGPASS|NOAUTH/);
      expect(sink.lines.join('\n')).not.toContain('wrong-password');
      // The answer to a /session/new or /session/reset names the login too: Redis answers, it is
      // not "unreachable", and asking again will not help until the URL is fixed.
      await expect(store.delete(1, { acknowledged: true })).rejects.toThrow(/^Redis refused the login of SessionStore\.RedisUrl \(user name or password\), so the rotation was not made.*ask again once it takes that login/);
      // Redis then gone: the answers say so from the first reconnect that fails (they kept
      // naming the login the outage began with).
      await server.kill();
      let said = '';
      for (let i = 0; i < 100 && !said.startsWith('Redis is unreachable'); i++) {
        said = await store.delete(1, { acknowledged: true }).then(() => 'taken', (error: Error) => error.message);
        if (!said.startsWith('Redis is unreachable')) await delay(50);
      }
      expect(said).toMatch(/^Redis is unreachable, so the rotation was not made/);
    } finally {
      await store.close().catch(() => undefined);
      await server.stop();
    }
  });

  // The refused database is logged as that alone (it is no unreachable Redis); but Redis then
  // going away was not logged at all, while "Redis is back" came at the recovery.
  it('Redis going away after a refused database is logged once as unreachable (Redis)', async () => {
    const server = await startRedisServer();
    const sink = logSink();
    const store = await RedisSessionStore.open({ url: `${server.url}/99999`, keyPrefix: 'gone:', log: createLogger('debug', sink.stream), idRule: TEST_ID_RULE });
    const entries = (): Array<Record<string, unknown>> => sink.lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    const unreachable = (): unknown[] => entries().filter((entry) => String(entry.msg).startsWith('Redis is unreachable'));
    try {
      expect(entries().filter((entry) => String(entry.msg).includes('refused the database'))).toHaveLength(1);
      expect(unreachable()).toEqual([]);
      await server.kill();
      for (let i = 0; i < 100 && unreachable().length === 0; i++) await delay(50);
      expect(unreachable()).toHaveLength(1);
      // Reconnects keep failing: still said once.
      await delay(1_500);
      expect(unreachable()).toHaveLength(1);
      await expect(store.delete(1, { acknowledged: true })).rejects.toThrow(/^Redis is unreachable, so the rotation was not made/);
    } finally {
      await store.close().catch(() => undefined);
      await server.stop().catch(() => undefined);
    }
  });
});
