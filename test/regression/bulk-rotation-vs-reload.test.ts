import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { createApp, type App } from '../../src/app.js';
import { loadConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/logging/logger.js';
import type { Session } from '../../src/session/session.js';
import { MemorySessionStore } from '../../src/store/memory-store.js';
import { adminClient } from '../helpers/admin.js';
import { eventually } from '../helpers/eventually.js';
import { startAddressEcho } from '../helpers/exit-provider.js';
import { freePort, freePortRange } from '../helpers/ports.js';
import { logSink } from '../helpers/stickyport.js';

// A bulk rotation (/api/sessions/new over a range) runs in batches of 32, each waiting for the
// store. A reload that narrows the range between two batches removes ports the call already
// chose: the next batch met "port N belongs to no mapping" and the call answered 503
// store_unavailable ("the session store failed"). It now skips them and answers 409 naming them,
// the ones whose rotation was waiting for the store when the reload came included.

/** A memory store whose `replace` waits at a gate while it is closed: the store being slow, nothing else. */
class GatedStore extends MemorySessionStore {
  private gate: Promise<void> | undefined;
  private open: (() => void) | undefined;
  waiting = 0;
  private onWaiting: Array<{ count: number; resolve: () => void }> = [];

  close_(): void {
    this.gate = new Promise((resolve) => (this.open = resolve));
  }

  release(): void {
    this.open?.();
    this.gate = undefined;
  }

  /** Resolves once `count` replaces wait at the gate. */
  waitingFor(count: number): Promise<void> {
    return this.waiting >= count ? Promise.resolve() : new Promise((resolve) => this.onWaiting.push({ count, resolve }));
  }

  override async replace(session: Session): Promise<Session> {
    if (this.gate) {
      const gate = this.gate;
      this.waiting++;
      for (const waiter of this.onWaiting.filter((w) => w.count <= this.waiting)) waiter.resolve();
      await gate;
    }
    return super.replace(session);
  }
}

let app: App | undefined;
const closing: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  await app?.stop(100);
  app = undefined;
  await Promise.all(closing.splice(0).map((one) => one.close()));
});

it('a reload that removes ports while a bulk rotation of them waits: the call answers without blaming the store, and the kept ports rotate', async () => {
  const count = 40;
  const echo = await startAddressEcho();
  closing.push(echo);
  const [start, adminPort] = await Promise.all([freePortRange(count), freePort()]);
  const dir = mkdtempSync(path.join(tmpdir(), 'stickyport-bulk-reload-'));
  const write = (end: number): void =>
    writeFileSync(
      path.join(dir, 'appsettings.json'),
      JSON.stringify({
        Listen: { Host: '127.0.0.1', PortRange: { Start: start, End: end }, StickyProxyLifetime: 10, AllowPrivateTargets: true },
        SessionAPI: { Enabled: true },
        // Every session installed asks its exit once: a removed port's must not.
        Identity: { EchoUrl: `${echo.url}/json`, CheckOnCreate: true },
        Admin: { Enabled: true, Port: adminPort },
        Logging: { Level: 'info' },
      }),
    );
  write(start + count - 1);
  const load = () => loadConfig({ cwd: dir, env: {} });
  const sink = logSink();
  const config = load();
  const store = new GatedStore();
  app = await createApp(config, { log: createLogger(config.logLevel, sink.stream), loadConfig: load, store });
  await app.start();
  const admin = adminClient(adminPort);

  store.close_();
  const bulk = admin.post('/api/sessions/new', { range: `${start}-${start + count - 1}` });
  await store.waitingFor(32);
  write(start + 3);
  expect(await app.reload('test')).toMatchObject({ applied: true, removed: `${start + 4}-${start + count - 1}` });
  store.release();
  const answer = await bulk;
  expect(answer.status).toBe(409);
  // The waiting batch's rotations were written (the store holds them): rotated, 32.
  expect(answer.json).toMatchObject({ error: 'ports_removed', message: expect.stringContaining(`${start + 32}-${start + count - 1}`), count: 32 });
  for (let port = start; port < start + 4; port++) expect(app.ports.peek(port)?.session).toBeDefined();
  // s32 carried #5: the removed ports of that batch had their sessions installed on states the
  // reload had let go: expiry, keep-alive and identity checks ran for ports no longer served,
  // for good. Only the 4 ports still served check their new session's exit now.
  await eventually(() => echo.seen.length >= 4, 'the kept ports check their exits');
  await new Promise((resolve) => setTimeout(resolve, 300));
  expect(echo.seen).toHaveLength(4);
  expect(sink.lines.filter((line) => line.includes('BUG'))).toEqual([]);
});
