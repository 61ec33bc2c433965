import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from '../helpers/client.js';
import { startStickyport, type RunningProxy } from '../helpers/stickyport.js';

// An upstream that answers an upload early (a 413, a provider's 407 or 402) and closes with the
// body unread makes its kernel reset the connection. The answer is already in stickyport's
// receive queue when the reset arrives, and the kernel keeps it readable; but the next write of
// the body failed (EPIPE or ECONNRESET) and Node destroyed the socket there, unread, so the
// client got a 502 for an upstream that had answered in full. The write side's failure now
// waits for the read side: the answer is relayed, and without one the 502 still says why.

const ANSWER = 'HTTP/1.1 413 Payload Too Large\r\nContent-Length: 9\r\nConnection: close\r\n\r\ntoo large';
const TRIES = 8;
// More than loopback's socket buffers hold: the body cannot all be written before the reset.
const BODY = 'x'.repeat(8 * 1024 * 1024);

/** Reads the head, answers early, and closes with the upload unread (the kernel sends a reset). */
function answersEarly(socket: net.Socket, answer: string | null): void {
  socket.on('error', () => undefined);
  socket.once('data', () => {
    socket.pause();
    if (answer === null) socket.resetAndDestroy();
    else socket.write(answer, () => socket.destroy());
  });
}

/** A SOCKS5 server that is its own target: it accepts any login and CONNECT, then answers as above. */
function socksAnsweringEarly(socket: net.Socket): void {
  socket.on('error', () => undefined);
  const replies = [Buffer.from([5, 2]), Buffer.from([1, 0]), Buffer.from([5, 0, 0, 1, 127, 0, 0, 1, 0, 80])];
  const step = (): void => {
    socket.once('data', () => {
      socket.write(replies.shift()!);
      if (replies.length > 0) step();
      else answersEarly(socket, ANSWER);
    });
  };
  step();
}

function listen(server: net.Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  return once(server, 'listening').then(() => (server.address() as AddressInfo).port);
}

const servers: net.Server[] = [];
const proxies: Record<string, RunningProxy> = {};
let originPort: number;
let silentPort: number;

beforeAll(async () => {
  const origin = net.createServer((socket) => answersEarly(socket, ANSWER));
  const silent = net.createServer((socket) => answersEarly(socket, null));
  const provider = net.createServer((socket) => answersEarly(socket, ANSWER));
  const socksServer = net.createServer(socksAnsweringEarly);
  servers.push(origin, silent, provider, socksServer);
  originPort = await listen(origin);
  silentPort = await listen(silent);
  const providerPort = await listen(provider);
  const socksPort = await listen(socksServer);
  proxies.direct = await startStickyport({}, { portCount: 1 });
  proxies['HTTP upstream'] = await startStickyport({ Upstream: { Url: `http://customer-acme-session-{session}:secret@127.0.0.1:${providerPort}` } }, { portCount: 1 });
  proxies['SOCKS5 upstream'] = await startStickyport({ Upstream: { Url: `socks5h://customer-acme-session-{session}:secret@127.0.0.1:${socksPort}` } }, { portCount: 1 });
});

afterAll(async () => {
  await Promise.all(Object.values(proxies).map((proxy) => proxy.stop()));
  for (const server of servers) server.close();
});

function upload(port: number, target: string): Promise<{ status: number; body: string }> {
  return request(port, target, { method: 'POST', body: BODY, headers: { 'content-length': String(BODY.length) } }).catch((error: Error) => ({ status: 0, body: error.message }));
}

describe('an early answer to an upload, then a reset', () => {
  it.each(['direct', 'HTTP upstream', 'SOCKS5 upstream'])('reaches the client whole, every try, via %s', async (route) => {
    const seen: string[] = [];
    for (let i = 0; i < TRIES; i++) {
      const answer = await upload(proxies[route]!.ports[0]!, `http://127.0.0.1:${originPort}/upload`);
      seen.push(`${answer.status} ${answer.body}`);
    }
    expect(seen).toEqual(Array(TRIES).fill('413 too large'));
  });

  it('without an answer, still a 502 saying the upstream closed while the body went up', async () => {
    const answer = await upload(proxies.direct!.ports[0]!, `http://127.0.0.1:${silentPort}/upload`);
    expect(answer.status).toBe(502);
    expect(answer.body).toMatch(/closed the connection while the request's body was still being sent/);
  });
});
