import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { request } from '../helpers/client.js';
import { startStickyport, type RunningProxy } from '../helpers/stickyport.js';

// An upstream that closes while a request's body is still going up (after an early answer, or
// none) makes its kernel reset the connection; the reset often takes an early answer with it
// (README). The 502 said "closed the connection before answering", which may be false: it now
// says the body was still being sent and that an answer may have been lost.

let upstream: net.Server;
let proxy: RunningProxy;

beforeAll(async () => {
  // Reads the request head, then resets the connection with the body unread.
  upstream = net.createServer((socket) => {
    socket.on('error', () => undefined);
    socket.once('data', () => socket.resetAndDestroy());
  });
  upstream.listen(0, '127.0.0.1');
  await once(upstream, 'listening');
  proxy = await startStickyport({ Upstream: { Url: `http://customer-acme-session-{session}:secret@127.0.0.1:${(upstream.address() as AddressInfo).port}` } });
});

afterAll(async () => {
  await proxy?.stop();
  upstream?.close();
});

it('a reset while the body still goes up: 502 UPSTREAM_RESET saying so, not "before answering"', async () => {
  // More than the kernel's buffers hold on loopback: the body cannot all be written before the reset.
  const body = 'x'.repeat(16 * 1024 * 1024);
  const answer = await request(proxy.ports[0]!, 'http://example.test/upload', { method: 'POST', body, headers: { 'content-length': String(body.length) } }).catch((error: Error) => ({ status: 0, body: error.message, headers: {} }));
  expect(answer.status).toBe(502);
  expect(answer.body).toMatch(/closed the connection while the request's body was still being sent/);
});
