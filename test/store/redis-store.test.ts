import { randomBytes } from 'node:crypto';
import { expect, it } from 'vitest';
import { createLogger } from '../../src/logging/logger.js';
import { RedisSessionStore } from '../../src/store/redis-store.js';
import type { SessionStore } from '../../src/store/session-store.js';
import { describeRedis, redisForSuite } from '../helpers/redis-server.js';
import { logSink } from '../helpers/stickyport.js';
import { makeSession, sessionStoreContract, TEST_ID_RULE, waitUntil } from './session-store.contract.js';

const silent = createLogger('silent');
const newPrefix = (): string => `test-${randomBytes(4).toString('hex')}:`;

describeRedis('RedisSessionStore on a real Redis', () => {
  const redis = redisForSuite();

  const prefixes = new WeakMap<SessionStore, string>();
  const open = async (keyPrefix = newPrefix(), log = silent): Promise<RedisSessionStore> => {
    const store = await RedisSessionStore.open({ url: redis.server.url, keyPrefix, log, idRule: TEST_ID_RULE });
    prefixes.set(store, keyPrefix);
    return store;
  };

  sessionStoreContract('RedisSessionStore', {
    open: () => open(),
    openTwin: (store) => open(prefixes.get(store)),
    // PUBSUB NUMSUB counts the connections subscribed to the store's change channel.
    listening: (store, count) =>
      waitUntil(async () => {
        const [, subscribers] = (await redis.raw.pubsub('NUMSUB', `${prefixes.get(store)}changes`)) as [string, number];
        return subscribers >= count;
      }, 5_000, `${count} change subscribers`),
    inBackend: async (store, port) => {
      const value = await redis.raw.get(`${prefixes.get(store)}port:${port}`);
      // A reset leaves its mark at the key (no session), not a missing key.
      return value === null || value.startsWith('{"reset":true') ? undefined : JSON.parse(value);
    },
    openHolding: async (values) => {
      const keyPrefix = newPrefix();
      for (const [port, value] of values) await redis.raw.set(`${keyPrefix}port:${port}`, JSON.stringify(value), 'PX', 60_000);
      const sink = logSink();
      const store = await open(keyPrefix, createLogger('debug', sink.stream));
      return { store, warnings: () => sink.lines.map((line) => JSON.parse(line)) };
    },
  });

  it('warns once at start when another instance on the prefix makes ids by another rule; not when the rule is the same (Redis)', async () => {
    const prefix = newPrefix();
    const WARNING = "another instance on this Redis and KeyPrefix made ids by another Session.IdLength or Session.IdAlphabet: while both run, each replaces the other's ids on every request; give every instance sharing a KeyPrefix the same Session settings";
    const openLogged = async (idRule: typeof TEST_ID_RULE) => {
      const sink = logSink();
      const store = await RedisSessionStore.open({ url: redis.server.url, keyPrefix: prefix, log: createLogger('debug', sink.stream), idRule });
      const warnings = () => sink.lines.map((line) => JSON.parse(line)).filter((entry) => entry.msg === WARNING);
      return { store, warnings };
    };
    const first = await openLogged(TEST_ID_RULE);
    const same = await openLogged(TEST_ID_RULE);
    const longer = await openLogged({ ...TEST_ID_RULE, idLength: TEST_ID_RULE.idLength + 2 });
    expect(first.warnings()).toEqual([]);
    expect(same.warnings()).toEqual([]);
    expect(longer.warnings()).toEqual([expect.objectContaining({ level: 40, idLength: TEST_ID_RULE.idLength + 2, otherIdLength: String(TEST_ID_RULE.idLength) })]);
    for (const { store } of [first, same, longer]) await store.close();
  });

  it('warns once at start when Redis could undo an acknowledged rotation on a crash (snapshots only, or appendfsync not always), not when it syncs every write (Redis)', async () => {
    const persistence = async (): Promise<Array<{ level: number; msg: string; appendonly?: string; appendfsync?: string }>> => {
      const sink = logSink();
      const store = await RedisSessionStore.open({ url: redis.server.url, keyPrefix: newPrefix(), log: createLogger('debug', sink.stream), idRule: TEST_ID_RULE });
      await store.close();
      return sink.lines.map((line) => JSON.parse(line)).filter((entry) => /appendonly|appendfsync/.test(entry.msg));
    };
    const saveBefore = ((await redis.raw.config('GET', 'save')) as string[])[1] ?? '';
    try {
      await redis.raw.config('SET', 'appendonly', 'no');
      await redis.raw.config('SET', 'save', '3600 1');
      expect(await persistence()).toEqual([expect.objectContaining({ level: 40, appendonly: 'no', msg: expect.stringMatching(/snapshots only.*set appendonly yes and appendfsync always$/) })]);
      await redis.raw.config('SET', 'save', '');
      expect(await persistence()).toEqual([expect.objectContaining({ level: 40, appendonly: 'no', save: '', msg: expect.stringMatching(/^Redis keeps nothing on disk .*set appendonly yes and appendfsync always$/) })]);
      await redis.raw.config('SET', 'appendonly', 'yes');
      await redis.raw.config('SET', 'appendfsync', 'everysec');
      expect(await persistence()).toEqual([expect.objectContaining({ level: 40, appendonly: 'yes', appendfsync: 'everysec', msg: expect.stringMatching(/set appendfsync always$/) })]);
      await redis.raw.config('SET', 'appendfsync', 'always');
      expect(await persistence()).toEqual([]);
    } finally {
      await redis.raw.config('SET', 'appendonly', 'no');
      await redis.raw.config('SET', 'appendfsync', 'everysec');
      await redis.raw.config('SET', 'save', saveBefore);
    }
  });

  it('keeps one key per port under the prefix (and the data-set mark and id rule), with the session expiry as the key TTL (Redis)', async () => {
    const prefix = newPrefix();
    const store = await open(prefix);
    const timed = await store.getOrCreate(1, () => makeSession(1, 60_000));
    const forever = await store.replace(makeSession(2, null));
    const keys = await redis.raw.keys(`${prefix}*`); // the test may use KEYS on its own tiny Redis
    expect(keys.sort()).toEqual([`${prefix}data-set`, `${prefix}id-rule`, `${prefix}port:1`, `${prefix}port:2`]);
    expect(await redis.raw.pttl(`${prefix}data-set`)).toBe(-1);
    const ttl = await redis.raw.pttl(`${prefix}port:1`);
    expect(ttl).toBeGreaterThan(59_000);
    expect(ttl).toBeLessThanOrEqual(60_000);
    expect(await redis.raw.pttl(`${prefix}port:2`)).toBe(-1);
    expect(JSON.parse((await redis.raw.get(`${prefix}port:1`))!)).toEqual(timed);
    expect(JSON.parse((await redis.raw.get(`${prefix}port:2`))!)).toEqual(forever);
    await store.close();
  });

  it('lists every session of its prefix with SCAN, never KEYS, skipping other prefixes and junk (Redis)', async () => {
    const store = await open();
    const other = await open();
    const mine = Array.from({ length: 450 }, (_, i) => makeSession(1_000 + i));
    await Promise.all(mine.map((session) => store.replace(session)));
    await other.replace(makeSession(1_000));
    await redis.raw.set(`${prefixes.get(store)}port:9999`, 'not a session');

    const monitor = await redis.raw.monitor();
    const commands: string[] = [];
    monitor.on('monitor', (_time: string, args: string[]) => commands.push(String(args[0]).toLowerCase()));
    const listed = await store.list();
    // Redis reports commands in the order it runs them: once the marker shows, list's have too.
    const marker = new Promise<void>((resolve) => monitor.on('monitor', (_t: string, args: string[]) => args[1] === 'marker' && resolve()));
    await redis.raw.echo('marker');
    await marker;
    monitor.disconnect();

    expect(listed.sort((a, b) => a.port - b.port)).toEqual(mine);
    expect(await other.list()).toHaveLength(1);
    expect(commands.filter((name) => name === 'scan').length).toBeGreaterThan(1);
    expect(commands).not.toContain('keys');
    await Promise.all([store.close(), other.close()]);
  });

  it('reads Redis on every call: a change written by anyone else shows at once (Redis)', async () => {
    const prefix = newPrefix();
    const store = await open(prefix);
    const first = await store.getOrCreate(3, () => makeSession(3));
    const elsewhere = makeSession(3);
    await redis.raw.set(`${prefix}port:3`, JSON.stringify(elsewhere), 'PX', 60_000);
    expect(await store.getOrCreate(3, () => makeSession(3))).toEqual(elsewhere);
    await redis.raw.del(`${prefix}port:3`);
    expect(await store.get(3)).toBeUndefined();
    expect(first.id).not.toBe(elsewhere.id);
    await store.close();
  });

  it('is marked shared, so the proxy asks it on every request (Redis)', async () => {
    const store = await open();
    expect(store.shared).toBe(true);
    expect(store.kind).toBe('redis');
    await store.close();
  });
});
