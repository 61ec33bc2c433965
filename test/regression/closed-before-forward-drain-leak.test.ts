import { mkdtempSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Drain, type DrainEntry } from '../../src/proxy/drain.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startStickyport } from '../helpers/stickyport.js';

// A client that goes away while its request waits for the session (an async store's read, a
// renewal asked for with X-Stickyport-Session: new) had its answer's 'close' behind it when the
// request was handed to forward.ts: the Exchange listened for a close that had already been,
// so it stayed in the drain's list until the stop (holding its request, response and socket),
// and the request log never had its record. (The same in the Set before the list.)

let origin: Origin;
beforeAll(async () => {
  origin = await startOrigin();
});
afterAll(async () => {
  await origin.close();
});

/** Sends a request and closes the connection at once, resolving when it is closed. */
function askAndLeave(port: number, url: string, headers: string): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => {
      socket.write(`GET ${url} HTTP/1.1\r\nHost: x\r\n${headers}\r\n`);
      socket.destroy();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => resolve());
  });
}

it('a request whose client left while its session was renewed in a file store leaves nothing in the drain list, and is logged', async () => {
  // The engine's Drain, as the test sees it: the instance that tracks entries.
  const drains = new Set<Drain>();
  const track = Drain.prototype.track;
  Drain.prototype.track = function (this: Drain, entry: DrainEntry): void {
    drains.add(this);
    track.call(this, entry);
  };
  const linked = (): number => {
    let n = 0;
    for (const drain of drains) for (let entry = (drain as unknown as { first?: DrainEntry }).first; entry; entry = entry.drainNext) n++;
    return n;
  };
  const dir = mkdtempSync(path.join(tmpdir(), 'stickyport-leak-'));
  const proxy = await startStickyport({ SessionStore: { Type: 'file', Path: path.join(dir, 'sessions.json') }, Logging: { Level: 'info', Requests: true } }, { portCount: 1 });
  const [port] = proxy.ports as [number];
  try {
    for (let i = 0; i < 20; i++) await askAndLeave(port, `${origin.url}/delay/${i + 1}`, 'X-Stickyport-Session: new\r\n');
    // Each renewal ends within a few milliseconds: wait until every request was handed on and logged.
    const logged = (): number => proxy.logs.filter((line) => line.includes('"request completed"')).length;
    const deadline = Date.now() + 3_000;
    while ((logged() < 20 || linked() > 0) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(linked()).toBe(0);
    expect(logged()).toBe(20);
  } finally {
    Drain.prototype.track = track;
    await proxy.stop();
  }
});
