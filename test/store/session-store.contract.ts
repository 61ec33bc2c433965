import { afterEach, describe, expect, it } from 'vitest';
import type { Session } from '../../src/session/session.js';
import { StoreClosedError, type SessionStore } from '../../src/store/session-store.js';

export interface StoreFactory {
  /** Opens a new, empty store. */
  open(): Promise<SessionStore>;
  /** For shared backends: a second handle on the same data as `store`, as another process would open. */
  openTwin?(store: SessionStore): Promise<SessionStore>;
}

let nextId = 0;

/** A frozen session for `port` that lives `lifetimeMs` from now (null = forever). */
export function makeSession(port: number, lifetimeMs: number | null = 60_000): Session {
  const createdAt = Date.now();
  return Object.freeze({ id: `s${++nextId}x${Math.random().toString(36).slice(2, 8)}`, port, createdAt, expiresAt: lifetimeMs === null ? null : createdAt + lifetimeMs });
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
