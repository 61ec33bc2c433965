import { afterEach, expect, it } from 'vitest';
import type { Session } from '../../src/session/session.js';
import { MemorySessionStore } from '../../src/store/memory-store.js';
import { request } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startStickyport, type RunningProxy } from '../helpers/stickyport.js';

// A store read of a port's session is thrown away when a change notice for the port arrives
// while it runs (src/ports/port-state.ts, load()): what was read may be the old session. With
// notices that never stop, the loop never ended and the request was never answered. After 32
// reads it now takes what the last one found (the next notice checks it again).

/** A memory store on which another instance seems to change the port during every read (or the first `times`). */
class ChangingStore extends MemorySessionStore {
  reads = 0;
  private listeners: Array<(port: number) => void> = [];

  constructor(private readonly times = Infinity) {
    super();
  }

  onRemoteChange(listener: (port: number) => void): void {
    this.listeners.push(listener);
  }

  override async getOrCreate(port: number, create: () => Session): Promise<Session> {
    const session = await super.getOrCreate(port, create);
    if (this.reads++ < this.times) for (const listener of this.listeners) listener(port);
    return session;
  }
}

let proxy: RunningProxy | undefined;
let origin: Origin | undefined;
afterEach(async () => {
  await proxy?.stop();
  await origin?.close();
  proxy = undefined;
  origin = undefined;
});

it('a port whose session is announced as changed during every read is served after 32 reads, with what the last one found', async () => {
  origin = await startOrigin();
  const store = new ChangingStore();
  proxy = await startStickyport({}, { portCount: 1, store });
  const answer = await request(proxy.ports[0]!, `${origin.url}/?never-stable`, { agent: false });
  expect(answer.status).toBe(200);
  expect(store.reads).toBe(32);
  expect(proxy.app.ports.peek(proxy.ports[0]!)?.session?.id).toBe((await store.get(proxy.ports[0]!))?.id);
  expect(origin.requests.map((r) => r.url)).toEqual(['/?never-stable']);
});

it('a port whose session changed during its first reads is served with what the next read found', async () => {
  origin = await startOrigin();
  const store = new ChangingStore(5);
  proxy = await startStickyport({}, { portCount: 1, store });
  const answer = await request(proxy.ports[0]!, `${origin.url}/`, { agent: false });
  expect(answer.status).toBe(200);
  expect(store.reads).toBe(6);
});
