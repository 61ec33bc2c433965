// Regression (adversarial review): a client that closes its side (FIN: a normal close, an
// aborted curl, a process exit) in the middle of an upload gets its 400, but the upstream
// request goes on waiting for the rest of the body forever: its upstream connection (and file
// descriptor) is never released. The client's connection is gone, so the per-client and
// per-port connection limits no longer count it: a client can pile up upstream connections
// without bound by opening and closing connections. (onClientError answers the broken request
// through its ServerResponse; the response then finishes normally, so the Exchange's
// 'close' handler, which only aborts unfinished answers, never aborts the upstream request,
// and Node never destroys the IncomingMessage whose body undici is still reading.)
import http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../helpers/eventually.js';
import { startStickyport, type RunningProxy } from '../helpers/stickyport.js';

const CLIENTS = 20;
let origin: http.Server;
let originPort: number;
const originSockets = new Set<net.Socket>();
let bodiesStarted = 0;
let proxy: RunningProxy;

beforeAll(async () => {
  // An origin that reads the whole body before answering, as an upload endpoint does.
  origin = http.createServer((req, res) => {
    bodiesStarted++;
    req.resume();
    req.on('end', () => res.end('uploaded'));
  });
  origin.on('connection', (socket: net.Socket) => {
    originSockets.add(socket);
    socket.once('close', () => originSockets.delete(socket));
  });
  await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
  originPort = (origin.address() as net.AddressInfo).port;
  // Direct route on a loopback listener: private targets allowed by default.
  proxy = await startStickyport({ Listen: { MaxConnectionsPerClient: 5 } });
});

afterAll(async () => {
  await proxy?.stop();
  origin?.closeAllConnections();
  await new Promise((resolve) => origin?.close(resolve));
});

/** Starts a 100-byte upload, sends 10 bytes, and resolves with the socket once the origin has the request. */
function startUpload(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true }, () => {
      socket.write(`POST http://127.0.0.1:${originPort}/upload HTTP/1.1\r\nHost: 127.0.0.1:${originPort}\r\nContent-Length: 100\r\n\r\n0123456789`);
      resolve(socket);
    });
    socket.on('error', reject);
    socket.on('data', () => undefined);
  });
}

describe('a client that closes in the middle of its upload', () => {
  it('leaves no upstream connection behind', async () => {
    const port = proxy.ports[0]!;
    // Fewer at once than the per-client limit: each round's connections are closed before the next.
    for (let round = 0; round < CLIENTS / 5; round++) {
      const sockets = await Promise.all(Array.from({ length: 5 }, () => startUpload(port)));
      await eventually(() => bodiesStarted >= (round + 1) * 5, 'the origin has every upload');
      for (const socket of sockets) socket.end();
      await Promise.all(sockets.map((socket) => new Promise((resolve) => socket.once('close', resolve))));
    }
    expect(proxy.app.listeners.connectionCount()).toBe(0);
    // No client connection is left; neither may any upstream request be.
    await eventually(() => originSockets.size === 0, 'no upstream connection left open', 3_000);
  });
});
