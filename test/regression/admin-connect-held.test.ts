import { once } from 'node:events';
import net from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { REFUSAL_DEADLINE_MS } from '../../src/admin/admin-server.js';
import { startWithAdmin, type AdminClient } from '../helpers/admin.js';
import type { RunningProxy } from '../helpers/stickyport.js';

// A CONNECT to the admin server is answered 400 and the server ends its side, but Node no longer
// tracks a CONNECT's socket: a client that never closed its own side held it for good (an
// adversarial pass waited 40 s), 64 such held every admin connection slot (/healthz refused for
// good), and a stop never finished. The socket is now closed at a fixed deadline, and by a stop.

let proxy: RunningProxy & { admin: AdminClient };
const held: net.Socket[] = [];
beforeAll(async () => {
  proxy = await startWithAdmin({}, { portCount: 1 });
});
afterAll(async () => {
  for (const socket of held) socket.destroy();
  await proxy?.stop();
});

/** A CONNECT to the admin port from a client that keeps its side open and trickles bytes. */
async function heldConnect(): Promise<{ socket: net.Socket; answer: Promise<string>; closed: Promise<unknown> }> {
  const socket = net.connect({ host: '127.0.0.1', port: proxy.admin.port, allowHalfOpen: true });
  held.push(socket);
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  socket.write('CONNECT 127.0.0.1:1 HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n');
  let text = '';
  socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
  const trickle = setInterval(() => socket.writable && socket.write('x'), 100);
  // Plain listeners: the trickle's writes after the close fail (EPIPE), which once() would throw.
  const closed = new Promise((resolve) => socket.once('close', resolve)).finally(() => clearInterval(trickle));
  const answer = new Promise<string>((resolve) => socket.once('end', () => resolve(text)));
  return { socket, answer, closed };
}

it('a CONNECT client that never closes is answered 400 and closed at the deadline', async () => {
  const startedAt = Date.now();
  const { answer, closed } = await heldConnect();
  expect(await answer).toMatch(/^HTTP\/1\.1 400 .*not_a_proxy/s);
  await closed;
  expect(Date.now() - startedAt).toBeLessThan(REFUSAL_DEADLINE_MS + 2_000);
});

it('a stop with such a CONNECT open finishes at once', async () => {
  const { answer, closed } = await heldConnect();
  await answer;
  const stopping = proxy.stop();
  await Promise.all([stopping, closed]);
}, 5_000);
