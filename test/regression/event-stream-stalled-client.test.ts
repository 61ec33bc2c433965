import net from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { eventsClient, logged, startWithAdmin } from '../helpers/admin.js';
import { request } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';

// A client of GET /api/events that stops reading made the proxy queue every event for it
// without bound: the admin socket's write queue grew by 110 MB in 35 s under traffic with long
// paths. It is now dropped once more than 1 MiB waits for it; the other clients keep receiving.

const DROPPED = 'event stream client dropped: it does not read what it is sent';
const LONG_PATH = `/${'p'.repeat(8_000)}`;
// Enough traffic to queue far more than 1 MiB of events (each carries its 8 KB path), bounded.
const MAX_REQUESTS = 20_000;
const MAX_MS = 30_000;

let origin: Origin;
beforeAll(async () => {
  origin = await startOrigin();
});
afterAll(() => origin.close());

/** A client that reads the answer head of GET /api/events and then nothing more. */
function stalledClient(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('error', reject);
    socket.write(`GET /api/events HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
    socket.once('data', () => {
      socket.pause();
      resolve(socket);
    });
  });
}

it('a client of /api/events that stops reading is dropped once 1 MiB waits for it; a reading client keeps its events', async () => {
  const proxy = await startWithAdmin({ Logging: { Requests: false } }, { portCount: 1 });
  const reader = eventsClient(proxy.admin.port);
  const stalled = await stalledClient(proxy.admin.port);
  const stalledClosed = new Promise<void>((resolve) => stalled.once('close', () => resolve()));
  stalled.on('error', () => undefined);
  try {
    const [port] = proxy.ports as [number];
    const target = `http://127.0.0.1:${origin.port}${LONG_PATH}`;
    const deadline = Date.now() + MAX_MS;
    let sent = 0;
    const dropped = (): boolean => logged(proxy.logs, DROPPED).length > 0;
    const worker = async (): Promise<void> => {
      while (!dropped() && sent < MAX_REQUESTS && Date.now() < deadline) {
        sent++;
        await request(port, target);
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    expect(dropped()).toBe(true);

    // Once, at warn, with how much waited for it.
    const [line, ...more] = logged(proxy.logs, DROPPED);
    expect(more).toEqual([]);
    expect(line).toMatchObject({ level: 40, component: 'admin', unsentBytes: expect.any(Number) });
    expect(line!.unsentBytes).toBeGreaterThan(1024 * 1024);
    // Its connection was closed: reading again, it sees the end of what was sent.
    stalled.resume();
    await stalledClosed;
    // The reading client still gets events after the drop.
    const summary = reader.next('summary');
    const requests = reader.next('requests');
    await request(port, `${origin.url}/`);
    await Promise.all([summary, requests]);
  } finally {
    stalled.destroy();
    reader.close();
    await proxy.stop();
  }
}, 60_000);
