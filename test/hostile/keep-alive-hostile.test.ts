import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IdentityEvent } from '../../src/identity/identity-events.js';
import { request } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startStickyport, type RunningProxy } from '../helpers/stickyport.js';

// Session.KeepAlive against a page that never ends, one that trickles, and one that resets:
// each keep-alive request is over within Identity.Timeout (cut at 64 KiB), they never pile up,
// and the port serves all along.

type Mode = 'endless' | 'trickle' | 'reset';
let mode: Mode = 'endless';
const open = new Set<net.Socket>();
let maxOpen = 0;
let page: net.Server;
let pagePort = 0;
let origin: Origin;

beforeAll(async () => {
  page = net.createServer((socket) => {
    open.add(socket);
    maxOpen = Math.max(maxOpen, open.size);
    socket.once('close', () => open.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.once('data', () => {
      if (mode === 'reset') return socket.resetAndDestroy();
      socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/html\r\n\r\n');
      if (mode === 'trickle') return socket.write('1\r\nx\r\n');
      // Endless: chunks while the socket takes them, until it closes.
      const pump = (): void => {
        while (!socket.destroyed && socket.write(`4000\r\n${'y'.repeat(0x4000)}\r\n`));
        if (!socket.destroyed) socket.once('drain', pump);
      };
      pump();
    });
  });
  page.listen(0, '127.0.0.1');
  await once(page, 'listening');
  pagePort = (page.address() as AddressInfo).port;
  origin = await startOrigin();
});
afterAll(async () => {
  for (const socket of open) socket.destroy();
  await new Promise<void>((resolve) => page.close(() => resolve()));
  await origin?.close();
});

function keepAlives(proxy: RunningProxy, count: number): Promise<IdentityEvent[]> {
  return new Promise((resolve) => {
    const seen: IdentityEvent[] = [];
    const off = proxy.app.events.on((event) => {
      if (event.type !== 'keep-alive') return;
      seen.push(event);
      if (seen.length === count) {
        off();
        resolve(seen);
      }
    });
  });
}

describe.each(['endless', 'trickle', 'reset'] as const)('keep-alive to a page that is %s', (which) => {
  it('each request is over in time, they do not pile up, and the port serves', async () => {
    mode = which;
    maxOpen = 0;
    const proxy = await startStickyport(
      { Session: { KeepAlive: '100ms', KeepAliveUrl: `http://127.0.0.1:${pagePort}/` }, Identity: { Timeout: '500ms' }, Logging: { Level: 'warn' } },
      { portCount: 1 },
    );
    try {
      // Install the port's session: its keep-alive timer starts then.
      expect((await request(proxy.ports[0]!, `${origin.url}/`)).status).toBe(200);
      const events = await keepAlives(proxy, 3);
      // The endless page is cut at 64 KiB: that is a success; the trickle times out; the reset fails.
      expect(events.map((event) => (event as { ok: boolean }).ok)).toEqual(Array(3).fill(which === 'endless'));
      // undici closes an aborted request's connection a moment later, and may open the next
      // request's meanwhile (and one spare): a few at most, never one per ping.
      expect(maxOpen).toBeLessThanOrEqual(3);
      expect((await request(proxy.ports[0]!, `${origin.url}/`)).status).toBe(200);
    } finally {
      await proxy.stop();
    }
  });
});
