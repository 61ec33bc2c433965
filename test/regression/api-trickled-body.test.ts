import { once } from 'node:events';
import net from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { greeting, request5 } from '../helpers/socks-client.js';
import { startStickyport, type RunningProxy } from '../helpers/stickyport.js';

// A session API call sent with `Content-Length: 100000` and its body a byte every few seconds
// was answered 200 keep-alive at once, and the connection then stayed open for as long as the
// bytes came (each one restarted the idle timer): one client could hold every connection slot
// it may have that way (an adversarial pass, over SOCKS and over HTTP). An answer given before
// the request's body was read now closes the connection, at a fixed deadline however the
// client trickles (it keeps its own side open here), as any early answer does.

const IDLE_MS = 1_000;
let proxy: RunningProxy;
beforeAll(async () => {
  proxy = await startStickyport({ Listen: { IdleTimeout: `${IDLE_MS / 1000}s` } }, { portCount: 1 });
});
afterAll(() => proxy?.stop());

const CALL = 'GET http://portmapper/session/ HTTP/1.1\r\nHost: portmapper\r\nContent-Length: 100000\r\n\r\nx';

/** A client that never closes its side by itself; `received()` is everything read so far. */
async function halfOpenClient(port: number): Promise<{ socket: net.Socket; received: () => Buffer; more: () => Promise<unknown> }> {
  const socket = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  let received = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => (received = Buffer.concat([received, chunk])));
  // Plain listeners: a write after the proxy's close fails (EPIPE), which once() would throw.
  const next = (): Promise<void> => new Promise((resolve) => socket.once('data', () => resolve()).once('end', () => resolve()).once('close', () => resolve()));
  return { socket, received: () => received, more: next };
}

/**
 * A half-open client of the session API on the port, over HTTP or inside a SOCKS5 CONNECT to
 * portmapper:80; `skip`: the bytes of the SOCKS handshake before the HTTP answers.
 */
async function apiClient(how: string): Promise<{ client: Awaited<ReturnType<typeof halfOpenClient>>; skip: number }> {
  const client = await halfOpenClient(proxy.ports[0]!);
  if (how !== 'socks5') return { client, skip: 0 };
  client.socket.write(greeting(0));
  while (client.received().length < 2) await client.more();
  client.socket.write(request5({ host: 'portmapper', port: 80 }));
  while (client.received().length < 12) await client.more();
  expect(client.received()[3]).toBe(0);
  return { client, skip: 12 };
}

it.each(['http', 'socks5'])('over %s: the answer closes the connection, cut at a fixed deadline however the body trickles', async (how) => {
  const { client, skip } = await apiClient(how);
  client.socket.write(CALL);
  const head = (): string => client.received().subarray(skip).toString('latin1');
  while (!head().includes('\r\n\r\n') && !client.socket.destroyed) await client.more();
  const answeredAt = Date.now();
  expect(head()).toMatch(/^HTTP\/1\.1 200 /);
  expect(head().toLowerCase()).toContain('connection: close');
  const closed = new Promise((resolve) => client.socket.once('close', resolve));
  const drip = setInterval(() => client.socket.writable && client.socket.write('y'), 100);
  try {
    await closed;
  } finally {
    clearInterval(drip);
  }
  expect(Date.now() - answeredAt).toBeLessThan(IDLE_MS + 1_500);
}, 15_000);

it('a call without a body keeps its connection, one answered at once too (a 403): the next call on it is answered', async () => {
  const [port] = proxy.ports as [number];
  const client = await halfOpenClient(port);
  // A Referer marks it as a page's: refused before any await, while Node has not yet marked the
  // bodiless request complete.
  const call = 'GET http://portmapper/session/ HTTP/1.1\r\nHost: portmapper\r\nReferer: http://page.test/\r\n\r\n';
  client.socket.write(call);
  while (client.received().toString('latin1').split('\r\n\r\n').length < 2) await client.more();
  expect(client.received().toString('latin1').toLowerCase()).not.toContain('connection: close');
  client.socket.write(call);
  while ((client.received().toString('latin1').match(/HTTP\/1\.1 403 /g) ?? []).length < 2 && !client.socket.destroyed) await client.more();
  expect(client.received().toString('latin1').match(/HTTP\/1\.1 403 /g)).toHaveLength(2);
  client.socket.destroy();
});

// The first version asked whether the body was read as the answer was written, before Node had
// parsed a body that came in the same read as its head: such a call lost its keep-alive, and a
// call pipelined behind it was dropped (an attack pass, over SOCKS and on a reused connection).
it.each(['http', 'socks5'])('over %s: calls whose whole body came with the head keep the connection, a second call behind each is answered', async (how) => {
  const { client, skip } = await apiClient(how);
  const withBody = 'GET http://portmapper/session/ HTTP/1.1\r\nHost: portmapper\r\nContent-Length: 5\r\n\r\nhello';
  const chunked = 'GET http://portmapper/session/ HTTP/1.1\r\nHost: portmapper\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n';
  const plain = 'GET http://portmapper/session/ HTTP/1.1\r\nHost: portmapper\r\n\r\n';
  const text = (): string => client.received().subarray(skip).toString('latin1');
  // A first call, so that the next ones come on a reused connection; then two with bodies, each
  // in one write with a call pipelined behind it.
  for (const bytes of [plain, withBody + plain, chunked + plain]) {
    const before = (text().match(/HTTP\/1\.1 200 /g) ?? []).length;
    const expected = before + (bytes === plain ? 1 : 2);
    client.socket.write(bytes);
    while ((text().match(/HTTP\/1\.1 200 /g) ?? []).length < expected && !client.socket.readableEnded) await client.more();
    expect((text().match(/HTTP\/1\.1 200 /g) ?? []).length).toBe(expected);
  }
  expect(text().toLowerCase()).not.toContain('connection: close');
  client.socket.destroy();
});
