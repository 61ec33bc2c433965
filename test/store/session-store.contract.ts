import { randomInt } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { followsIdRule, withExit, type Session, type SessionIdRule } from '../../src/session/session.js';
import { StoreClosedError, type SessionStore } from '../../src/store/session-store.js';

export interface StoreFactory {
  /** Opens a new, empty store. */
  open(): Promise<SessionStore>;
  /** For shared backends: a second handle on the same data as `store`, as another process would open. */
  openTwin?(store: SessionStore): Promise<SessionStore>;
  /** For shared backends: resolves once `count` handles of `store`'s data hear remote changes. */
  listening?(store: SessionStore, count: number): Promise<void>;
  /** For persistent backends: what a reader that bypasses `store` finds for `port` right now (parsed JSON). */
  inBackend?(store: SessionStore, port: number): Promise<unknown>;
  /**
   * For persistent backends: opens a store whose backend already holds `values` (port -> the
   * value as JSON would carry it, written as someone else might have), with its warnings.
   */
  openHolding?(values: ReadonlyMap<number, unknown>): Promise<{ store: SessionStore; warnings: () => Array<Record<string, unknown>> }>;
}

/** The pool members and parameters every port of the store tests has (a mapping with a pool). */
export const TEST_POOL = new Set(['gate-a.example:7777', 'gate-b.example:7777']);
export const TEST_PARAMETERS = new Set(['country', 'city']);

/** The id rule the store tests give their stores; makeSession follows it. */
export const TEST_ID_RULE: SessionIdRule = {
  idLength: 12,
  idAlphabet: 'abcdefghijklmnopqrstuvwxyz0123456789',
  portRule: () => ({ upstreamKeys: TEST_POOL, parameters: TEST_PARAMETERS }),
};

/** The warning a store logs, once, for a stored value it cannot use. */
export const UNUSABLE = 'ignored an unusable stored session: the port gets a new one';
/** The one line that counts the unusable stored sessions not logged one by one. */
export const UNUSABLE_MORE = 'ignored more unusable stored sessions';

let nextId = 0;

/** An id that follows TEST_ID_RULE, unique in this process. */
export function testId(): string {
  const { idAlphabet } = TEST_ID_RULE;
  const random = Array.from({ length: 8 }, () => idAlphabet[randomInt(idAlphabet.length)]).join('');
  return `${(++nextId).toString(36).padStart(4, '0')}${random}`;
}

/** A frozen session for `port` that lives `lifetimeMs` from now (null = forever). */
export function makeSession(port: number, lifetimeMs: number | null = 60_000): Session {
  const createdAt = Date.now();
  return Object.freeze({ id: testId(), port, createdAt, expiresAt: lifetimeMs === null ? null : createdAt + lifetimeMs });
}

/** Polls `check` until it is true; fails after `timeoutMs`. For expiry, which no event announces. */
export async function waitUntil(check: () => Promise<boolean> | boolean, timeoutMs = 3_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} not reached within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Registers the tests every SessionStore backend must pass (see src/store/session-store.ts). */
export function sessionStoreContract(name: string, factory: StoreFactory): void {
  describe(`${name} honours the SessionStore contract`, () => {
    const opened: SessionStore[] = [];
    const open = async (): Promise<SessionStore> => {
      const store = await factory.open();
      opened.push(store);
      return store;
    };
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((store) => store.close()));
    });

    it('answers undefined for a port without a session', async () => {
      const store = await open();
      expect(await store.get(10_001)).toBeUndefined();
      expect(await store.list()).toEqual([]);
    });

    it('getOrCreate stores the created session, and later callers get it without creating', async () => {
      const store = await open();
      const first = makeSession(10_001);
      let creations = 0;
      const got = await store.getOrCreate(10_001, () => (creations++, first));
      const again = await store.getOrCreate(10_001, () => (creations++, makeSession(10_001)));
      expect(creations).toBe(1);
      expect(got).toEqual(first);
      expect(again).toEqual(first);
      expect(await store.get(10_001)).toEqual(first);
    });

    it('hands out frozen sessions that keep every field, a null expiresAt included', async () => {
      const store = await open();
      const forever = makeSession(10_002, null);
      const timed = makeSession(10_003, 90_000);
      await store.replace(forever);
      await store.getOrCreate(10_003, () => timed);
      for (const [port, expected] of [[10_002, forever], [10_003, timed]] as const) {
        const session = await store.get(port);
        expect(session).toEqual(expected);
        expect(Object.isFrozen(session)).toBe(true);
      }
    });

    it('keeps a session\'s pool member and parameters, and sessions stored without them', async () => {
      const store = await open();
      const pinned = Object.freeze({ ...makeSession(10_014), upstream: 'gate-b.example:7777', params: Object.freeze({ country: 'de', city: '' }) });
      const plain = makeSession(10_015);
      await store.replace(pinned);
      await store.getOrCreate(10_015, () => plain);
      expect(await store.get(10_014)).toEqual(pinned);
      expect(await store.getOrCreate(10_014, () => makeSession(10_014))).toEqual(pinned);
      expect(await store.get(10_015)).toEqual(plain);
      expect(await store.get(10_015)).not.toHaveProperty('upstream');
      expect((await store.list()).sort((a, b) => a.port - b.port)).toEqual([pinned, plain]);
    });

    it('keeps a session\'s exit identity (IPv4 or IPv6, with or without country) through every operation', async () => {
      const store = await open();
      const v4 = withExit(makeSession(10_016), { ip: '203.0.113.7', country: 'DE', seenAt: Date.now() - 5_000 });
      const v6 = withExit(makeSession(10_017, null), { ip: '2001:db8::7', seenAt: Date.now() });
      await store.replace(v4);
      await store.getOrCreate(10_017, () => v6);
      expect(await store.get(10_016)).toEqual(v4);
      expect(await store.get(10_017)).toEqual(v6);
      expect(await store.getOrCreate(10_016, () => makeSession(10_016))).toEqual(v4);
      expect((await store.list()).sort((a, b) => a.port - b.port)).toEqual([v4, v6]);
      expect(Object.isFrozen((await store.get(10_016))!.exit)).toBe(true);
    });

    it('amend writes what was learnt about the port\'s own session, never over another one, never after a delete', async () => {
      const store = await open();
      const session = await store.getOrCreate(10_018, () => makeSession(10_018));
      const seen = withExit(session, { ip: '198.51.100.1', seenAt: Date.now() });
      expect(await store.amend(seen)).toEqual(seen);
      expect(await store.get(10_018)).toEqual(seen);
      const drifted = withExit(session, { ip: '198.51.100.2', country: 'FR', seenAt: Date.now() });
      expect(await store.amend(drifted)).toEqual(drifted);
      expect(await store.getOrCreate(10_018, () => makeSession(10_018))).toEqual(drifted);
      // A rotation won: the amendment of the old session is dropped.
      const rotated = await store.replace(makeSession(10_018));
      expect(await store.amend(withExit(session, { ip: '198.51.100.3', seenAt: Date.now() }))).toBeUndefined();
      expect(await store.get(10_018)).toEqual(rotated);
      // A reset won: nothing comes back.
      await store.delete(10_018);
      expect(await store.amend(withExit(rotated, { ip: '198.51.100.4', seenAt: Date.now() }))).toBeUndefined();
      expect(await store.get(10_018)).toBeUndefined();
      expect(await store.amend(withExit(makeSession(10_019), { ip: '198.51.100.5', seenAt: Date.now() }))).toBeUndefined();
      expect(await store.get(10_019)).toBeUndefined();
    });

    it('getOrCreate is atomic: concurrent first calls on one store end with one session', async () => {
      const store = await open();
      const results = await Promise.all(Array.from({ length: 25 }, () => store.getOrCreate(10_004, () => makeSession(10_004))));
      expect(new Set(results.map((session) => session.id)).size).toBe(1);
      expect((await store.get(10_004))?.id).toBe(results[0]!.id);
    });

    if (factory.openTwin) {
      const openTwin = factory.openTwin.bind(factory);
      it('getOrCreate is atomic across two handles on the same store (two processes)', async () => {
        const one = await open();
        const two = await openTwin(one);
        opened.push(two);
        for (const port of [10_010, 10_011, 10_012]) {
          const results = await Promise.all(
            Array.from({ length: 20 }, (_, i) => (i % 2 ? one : two).getOrCreate(port, () => makeSession(port))),
          );
          expect(new Set(results.map((session) => session.id)).size).toBe(1);
        }
      });

      it('a change through one handle is what the other handle reads next', async () => {
        const one = await open();
        const two = await openTwin(one);
        opened.push(two);
        const original = await one.getOrCreate(10_013, () => makeSession(10_013));
        expect(await two.get(10_013)).toEqual(original);
        const replacement = await two.replace(makeSession(10_013));
        expect(await one.getOrCreate(10_013, () => makeSession(10_013))).toEqual(replacement);
        expect(await one.delete(10_013)).toBe(true);
        expect(await two.get(10_013)).toBeUndefined();
      });
    }

    it('replace stores the session whatever the port had', async () => {
      const store = await open();
      await store.getOrCreate(10_005, () => makeSession(10_005));
      const replacement = makeSession(10_005);
      expect(await store.replace(replacement)).toEqual(replacement);
      expect(await store.get(10_005)).toEqual(replacement);
      expect(await store.getOrCreate(10_005, () => makeSession(10_005))).toEqual(replacement);
    });

    it('delete removes the session and tells whether there was a live one', async () => {
      const store = await open();
      const first = await store.getOrCreate(10_006, () => makeSession(10_006));
      expect(await store.delete(10_006)).toBe(true);
      expect(await store.get(10_006)).toBeUndefined();
      expect(await store.delete(10_006)).toBe(false);
      const next = await store.getOrCreate(10_006, () => makeSession(10_006));
      expect(next.id).not.toBe(first.id);
    });

    it('list returns every live session of every port, and nothing deleted', async () => {
      const store = await open();
      const kept = [makeSession(10_020), makeSession(10_021, null), makeSession(10_022)];
      for (const session of kept) await store.replace(session);
      await store.replace(makeSession(10_023));
      await store.delete(10_023);
      const listed = await store.list();
      expect(listed.sort((a, b) => a.port - b.port)).toEqual(kept);
    });

    it('a session is gone once its expiresAt has passed, and the next getOrCreate makes a new one', async () => {
      const store = await open();
      const brief = await store.getOrCreate(10_007, () => makeSession(10_007, 250));
      const lasting = await store.getOrCreate(10_008, () => makeSession(10_008));
      expect(await store.get(10_007)).toEqual(brief);
      await waitUntil(async () => (await store.get(10_007)) === undefined, 3_000, 'expiry');
      // Gone after its expiry, not before it.
      expect(Date.now()).toBeGreaterThanOrEqual(brief.expiresAt! - 5);
      expect(await store.list()).toEqual([lasting]);
      const next = await store.getOrCreate(10_007, () => makeSession(10_007));
      expect(next.id).not.toBe(brief.id);
    });

    it('replace with an already expired session leaves the port without a live one', async () => {
      const store = await open();
      await store.getOrCreate(10_009, () => makeSession(10_009));
      const past = Date.now() - 1_000;
      await store.replace(Object.freeze({ id: 'old', port: 10_009, createdAt: past - 1_000, expiresAt: past }));
      expect(await store.get(10_009)).toBeUndefined();
      expect(await store.list()).toEqual([]);
    });

    if (factory.inBackend) {
      const inBackend = factory.inBackend.bind(factory);
      it('replace and delete resolve only once the change is durable in the backend', async () => {
        const store = await open();
        await store.getOrCreate(10_040, () => makeSession(10_040));
        for (let round = 0; round < 5; round++) {
          const renewed = makeSession(10_040);
          await store.replace(renewed);
          expect(await inBackend(store, 10_040)).toEqual(renewed);
          await store.delete(10_040);
          expect(await inBackend(store, 10_040)).toBeUndefined();
        }
        // Many at once: each of them is durable when it resolves.
        await Promise.all(
          Array.from({ length: 30 }, async (_, i) => {
            const session = makeSession(10_100 + i);
            await store.replace(session);
            expect(await inBackend(store, session.port)).toEqual(session);
          }),
        );
      });
    }

    if (factory.openHolding) {
      const openHolding = factory.openHolding.bind(factory);
      it('a stored value that breaks the id rule or is not a session is that port\'s missing session, logged once', async () => {
        const good = [
          makeSession(10_050),
          makeSession(10_051, null),
          { ...makeSession(10_052), upstream: 'gate-a.example:7777', params: { city: 'oslo' } },
          withExit(makeSession(10_053), { ip: '203.0.113.9', country: 'NO', seenAt: Date.now() }),
        ];
        const valid = makeSession(10_060);
        const bad: Array<[string, unknown]> = [
          ['a colon', { ...valid, id: 'abcdef:ghijk' }],
          ['an at sign', { ...valid, id: 'abcdef@ghijk' }],
          ['a dash', { ...valid, id: 'abcdef-ghijk' }],
          ['a space', { ...valid, id: 'abcdef ghijk' }],
          ['too long', { ...valid, id: 'abcdefghijklm' }],
          ['too short', { ...valid, id: 'abcdefghijk' }],
          ['empty', { ...valid, id: '' }],
          ['not a string', { ...valid, id: 123456789012 }],
          ['no id', { port: valid.port, createdAt: valid.createdAt, expiresAt: valid.expiresAt }],
          ['no expiresAt', { id: valid.id, port: valid.port, createdAt: valid.createdAt }],
          ['a string createdAt', { ...valid, createdAt: 'yesterday' }],
          ['a long id', { ...valid, id: 'x'.repeat(5_000) }],
          ['an upstream not in the pool', { ...valid, upstream: 'gate-c.example:7777' }],
          ['an upstream that is not a string', { ...valid, upstream: 7777 }],
          ['an undeclared parameter', { ...valid, params: { zip: '10115' } }],
          ['an unsafe parameter value', { ...valid, params: { country: 'de-x@y' } }],
          ['parameters that are not an object', { ...valid, params: 'country-de' }],
          ['an exit that is not an object', { ...valid, exit: '203.0.113.1' }],
          ['an exit IP that is not an IP', { ...valid, exit: { ip: '203.0.113.1; rm -rf', seenAt: 1 } }],
          ['an exit country that is not a code', { ...valid, exit: { ip: '203.0.113.1', country: 'Germany', seenAt: 1 } }],
          ['an exit without seenAt', { ...valid, exit: { ip: '203.0.113.1' } }],
          ['an exit with a field of its own', { ...valid, exit: { ip: '203.0.113.1', seenAt: 1, note: 'x' } }],
        ];
        const badPorts = bad.map((_, i) => 10_060 + i);
        const values = new Map<number, unknown>(good.map((session) => [session.port, session]));
        bad.forEach(([, value], i) => values.set(badPorts[i]!, { ...(value as object), port: badPorts[i] }));
        const { store, warnings } = await openHolding(values);
        opened.push(store);

        for (const port of badPorts) expect(await store.get(port)).toBeUndefined();
        expect((await store.list()).sort((a, b) => a.port - b.port)).toEqual(good);
        for (const port of badPorts) {
          let creations = 0;
          const fresh = await store.getOrCreate(port, () => (creations++, makeSession(port)));
          expect(creations).toBe(1);
          expect(followsIdRule(fresh.id, TEST_ID_RULE)).toBe(true);
          expect(await store.getOrCreate(port, () => makeSession(port))).toEqual(fresh);
          expect(await store.get(port)).toEqual(fresh);
        }
        for (const session of good) expect(await store.get(session.port)).toEqual(session);

        // Each bad port named once; a store that reads them all at once (a file) may name only the
        // first few and count the rest in one more line.
        const logged = warnings().filter((entry) => entry.msg === UNUSABLE);
        const counted = warnings().filter((entry) => String(entry.msg).startsWith(UNUSABLE_MORE));
        const named = logged.map((entry) => entry.port as number);
        expect(new Set(named).size).toBe(named.length);
        expect(named.every((port) => badPorts.includes(port))).toBe(true);
        expect(named.length + counted.reduce((sum, entry) => sum + (entry.count as number), 0)).toBe(badPorts.length);
        for (const entry of logged) {
          expect(entry.level).toBe(40);
          expect(String(entry.value).length).toBeLessThan(100);
        }
      });
    }

    if (factory.openTwin && factory.listening) {
      const openTwin = factory.openTwin.bind(factory);
      const listening = factory.listening.bind(factory);
      it('onRemoteChange tells one handle of the other\'s replace and delete, never of its own', async () => {
        const one = await open();
        const two = await openTwin(one);
        opened.push(two);
        const heard = { one: [] as number[], two: [] as number[] };
        const next = { one: [] as Array<(port: number) => void>, two: [] as Array<(port: number) => void> };
        for (const [name, store] of [['one', one], ['two', two]] as const) {
          store.onRemoteChange!((port) => {
            heard[name].push(port);
            next[name].shift()?.(port);
          });
        }
        // Heard within a second, or the test fails: a notice is meant to arrive at once.
        const hear = (name: 'one' | 'two') =>
          Promise.race([
            new Promise<number>((resolve) => next[name].push(resolve)),
            new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${name} heard nothing within 1 s`)), 1_000).unref()),
          ]);
        await listening(one, 2);

        const heardByTwo = hear('two');
        const replaced = await one.replace(makeSession(10_070));
        expect(await heardByTwo).toBe(10_070);
        // An amendment (the exit identity learnt) is the same session: nobody is told.
        expect(await one.amend(withExit(replaced, { ip: '192.0.2.1', seenAt: Date.now() }))).toBeDefined();
        const heardByOne = hear('one');
        await two.delete(10_070);
        expect(await heardByOne).toBe(10_070);
        // Notices arrive in order: by the time one heard two's delete, it had its own replace's
        // (and two would have had the amendment's, had there been one).
        expect(heard).toEqual({ one: [10_070], two: [10_070] });
      });
    }

    it('close can be called twice, and operations after it reject', async () => {
      const store = await open();
      await store.getOrCreate(10_030, () => makeSession(10_030));
      await store.close();
      await store.close();
      await expect(store.get(10_030)).rejects.toBeInstanceOf(StoreClosedError);
      await expect(store.getOrCreate(10_030, () => makeSession(10_030))).rejects.toBeInstanceOf(StoreClosedError);
      await expect(store.list()).rejects.toBeInstanceOf(StoreClosedError);
    });
  });
}
