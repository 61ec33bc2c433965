import { describe, expect, it } from 'vitest';
import { MemorySessionStore } from '../../src/store/memory-store.js';
import { sessionStoreContract } from './session-store.contract.js';

sessionStoreContract('MemorySessionStore', { open: async () => new MemorySessionStore() });

describe('MemorySessionStore with an injected clock', () => {
  it('a session is live until the millisecond of its expiresAt, not at it', async () => {
    let now = 1_000_000;
    const store = new MemorySessionStore(() => now);
    const session = Object.freeze({ id: 'a', port: 1, createdAt: now, expiresAt: now + 500 });
    await store.replace(session);
    now += 499;
    expect(await store.get(1)).toBe(session);
    expect(await store.list()).toEqual([session]);
    now += 1;
    expect(await store.get(1)).toBeUndefined();
    expect(await store.getOrCreate(1, () => ({ ...session, id: 'b' }))).toMatchObject({ id: 'b' });
  });
});
