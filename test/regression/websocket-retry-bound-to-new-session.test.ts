import { once } from 'node:events';
import http from 'node:http';
import type net from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { apiJson } from '../helpers/client.js';
import { RawClient } from '../helpers/socks-client.js';
import { startStickyport, upstreamUrl, type RunningProxy } from '../helpers/stickyport.js';

// A WebSocket request is a GET without a body: when its upstream connection breaks before any
// answer byte it is sent once more, on the port's *current* session (forward.ts mayRetry). When
// a rotation landed in between, that second try goes out on the new session and the upstream
// switches protocols: the WebSocket is the new session's, and must be relayed and bound to it
// (closed by the next rotation), not cut without an answer because the session it was first
// sent on is gone.

const SESSION_USER = /-session-([^-:]+)/;
let server: http.Server;
let upstreamPort: number;
const upgrades: Array<{ session: string | undefined; socket: net.Socket }> = [];
let arrived: (() => void) | undefined;
let proxy: RunningProxy;

beforeAll(async () => {
  server = http.createServer((_req, res) => res.writeHead(404, { 'content-length': 0 }).end());
  server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket) => {
    socket.on('error', () => socket.destroy());
    const login = Buffer.from((req.headers['proxy-authorization'] ?? '').slice(6), 'base64').toString();
    upgrades.push({ session: SESSION_USER.exec(login)?.[1], socket });
    // The first one is held (the test breaks it); the others switch and echo.
    if (upgrades.length === 1) return arrived?.();
    socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
    socket.pipe(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  upstreamPort = (server.address() as AddressInfo).port;
  proxy = await startStickyport({ Upstream: { Url: upstreamUrl(upstreamPort) }, Logging: { Level: 'warn' } }, { portCount: 1 });
});

afterAll(async () => {
  await proxy?.stop();
  for (const { socket } of upgrades) socket.destroy();
  await new Promise((resolve) => server?.close(resolve));
});

it('a WebSocket sent again on the new session after its first connection broke is answered and bound to the new session', async () => {
  const port = proxy.ports[0]!;
  const first = new Promise<void>((resolve) => (arrived = resolve));
  const client = await RawClient.connect(port);
  try {
    client.send(
      'GET http://chat.test/socket HTTP/1.1\r\nHost: chat.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
    await Promise.race([first, new Promise((_, reject) => setTimeout(() => reject(new Error('the upgrade never reached the upstream')), 5_000))]);
    const old = upgrades[0]!.session;
    const { session_id: renewed } = await apiJson<{ session_id: string }>(port, '/session/new');
    expect(renewed).not.toBe(old);
    // The first try's connection breaks before any answer byte: the GET goes once more.
    upgrades[0]!.socket.destroy();

    let head = '';
    for (let i = 0; i < 1_000 && !head.endsWith('\r\n\r\n'); i++) {
      const byte = await client.read(1, 5_000);
      if (byte.length === 0) break;
      head += byte.toString('latin1');
    }
    expect(head.slice(0, 12), 'the client got no answer to its WebSocket request').toBe('HTTP/1.1 101');
    expect(upgrades.slice(1).map((entry) => entry.session)).toEqual([renewed]);
    client.send('ping');
    expect((await client.read(4)).toString()).toBe('ping');

    // It is the new session's: the next rotation closes it.
    await apiJson(port, '/session/new');
    await client.untilClosed(5_000);
  } finally {
    client.destroy();
  }
});
