import { once } from 'node:events';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { eventually } from '../helpers/eventually.js';
import { startStack, type Stack } from '../helpers/stack.js';

// A plain-HTTP client that stopped reading half way through an answer was never disconnected:
// once its request was read the client's idle timer was off (a slow upstream must still get to
// answer it, ResponseTimeout bounds that), and the upstream timeouts cannot fire while the relay
// is paused for the client. It held its connection and the upstream's, on the old session after
// a rotation, for good (an adversarial pass: still open 35 s later with IdleTimeout 5 s). A
// client that takes nothing for Listen.IdleTimeout while its answer waits is now cut off.

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ Listen: { IdleTimeout: '1s' }, Upstream: { ResponseTimeout: '2s', PoolIdleTimeout: '1s' } }, { portCount: 1 });
});
afterAll(() => stack?.stop());

it('a client that reads nothing of a large answer is closed after Listen.IdleTimeout, and so is its upstream connection', async () => {
  const port = stack.proxy.ports[0]!;
  const client = net.connect(port, '127.0.0.1');
  client.on('error', () => undefined);
  client.pause();
  const sentAt = performance.now();
  client.write(`GET ${stack.origin.url}/bytes/${64 * 1024 * 1024} HTTP/1.1\r\nHost: 127.0.0.1:${stack.origin.port}\r\n\r\n`);
  await eventually(() => stack.upstream.openConnections() > 0, 'the request went upstream');
  // Closed at the proxy after about a second of taking nothing, before any upstream timeout
  // could fire (the client itself sees the FIN only behind the bytes it does not read).
  await eventually(() => stack.proxy.app.listeners.connectionCount() === 0, 'the client connection is closed at the proxy');
  expect(performance.now() - sentAt).toBeLessThan(4_000);
  await eventually(() => stack.upstream.openConnections() === 0, 'the upstream connection is closed');
  client.destroy();
});

it('a client that reads slowly but steadily gets the whole answer', async () => {
  const port = stack.proxy.ports[0]!;
  const size = 48 * 1024 * 1024;
  const client = net.connect(port, '127.0.0.1');
  client.on('error', () => undefined);
  client.write(`GET ${stack.origin.url}/bytes/${size} HTTP/1.1\r\nHost: 127.0.0.1:${stack.origin.port}\r\nConnection: close\r\n\r\n`);
  let received = 0;
  client.on('data', (chunk: Buffer) => (received += chunk.length));
  // Reads in short bursts 400 ms apart, for several times the idle limit in all: never idle that long.
  client.pause();
  const reader = setInterval(() => {
    client.resume();
    setTimeout(() => client.pause(), 2);
  }, 400);
  const startedAt = performance.now();
  await new Promise((resolve) => client.once('close', resolve));
  clearInterval(reader);
  expect(performance.now() - startedAt).toBeGreaterThan(2_000);
  expect(received).toBeGreaterThan(size);
}, 30_000);

// The first version of the fix left the timer armed once the relay had paused for the client:
// an upstream that then paused mid-body for longer than IdleTimeout (within ResponseTimeout)
// cut a client that was reading everything (a review found it). The timer runs only while the
// answer waits for the client.
it('a client that was slow once, then reads everything, is not cut while the upstream pauses mid-body', async () => {
  const first = 8 * 1024 * 1024;
  const rest = Buffer.alloc(1024, 'r');
  const origin = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-length': first + rest.length });
    res.write(Buffer.alloc(first, 'f'));
    // Longer than Listen.IdleTimeout (1 s), well within Upstream.ResponseTimeout (2 s per read).
    setTimeout(() => res.end(rest), 1_500);
  });
  origin.listen(0, '127.0.0.1');
  await once(origin, 'listening');
  const { port: originPort } = origin.address() as AddressInfo;
  try {
    const client = net.connect(stack.proxy.ports[0]!, '127.0.0.1');
    client.on('error', () => undefined);
    client.pause();
    client.write(`GET http://127.0.0.1:${originPort}/ HTTP/1.1\r\nHost: 127.0.0.1:${originPort}\r\nConnection: close\r\n\r\n`);
    // Slow at first (the relay pauses for it), then reading everything.
    await new Promise((resolve) => setTimeout(resolve, 300));
    let received = 0;
    client.on('data', (chunk: Buffer) => (received += chunk.length));
    client.resume();
    await new Promise((resolve) => client.once('close', resolve));
    expect(received).toBeGreaterThan(first + rest.length);
  } finally {
    origin.closeAllConnections();
    origin.close();
  }
}, 15_000);
