import { once } from 'node:events';
import http from 'node:http';
import type net from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { apiJson } from '../helpers/client.js';
import { RawClient } from '../helpers/socks-client.js';
import { startStickyport, upstreamUrl, type RunningProxy } from '../helpers/stickyport.js';

// A WebSocket whose upgrade was on its way when the port rotated, and whose 101 came back after
// the rotation answered: that connection carries the old identity and is dropped. The client
// was answered nothing yet. It used to be cut without any answer; a CONNECT in the same spot
// goes out again on the new session (way-out.ts), and so must the upgrade: the client gets the
// 101 of a WebSocket on the new session, bound to it.

const SESSION_USER = /-session-([^-:]+)/;
let server: http.Server;
const upgrades: Array<{ session: string | undefined; socket: net.Socket }> = [];
let arrived: (() => void) | undefined;
let proxy: RunningProxy;
const SWITCH = 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n';

beforeAll(async () => {
  server = http.createServer((_req, res) => res.writeHead(404, { 'content-length': 0 }).end());
  server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket) => {
    socket.on('error', () => socket.destroy());
    const login = Buffer.from((req.headers['proxy-authorization'] ?? '').slice(6), 'base64').toString();
    upgrades.push({ session: SESSION_USER.exec(login)?.[1], socket });
    socket.pipe(socket);
    // The first one is answered when the test says; the others at once.
    if (upgrades.length === 1) return arrived?.();
    socket.write(SWITCH);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  proxy = await startStickyport({ Upstream: { Url: upstreamUrl((server.address() as AddressInfo).port) }, Logging: { Level: 'warn' } }, { portCount: 1 });
});

afterAll(async () => {
  await proxy?.stop();
  for (const { socket } of upgrades) socket.destroy();
  await new Promise((resolve) => server?.close(resolve));
});

it('a 101 that comes back after a rotation answered: the upgrade goes out again on the new session and the client gets its 101', async () => {
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
    upgrades[0]!.socket.write(SWITCH);

    let head = '';
    for (let i = 0; i < 1_000 && !head.endsWith('\r\n\r\n'); i++) {
      const byte = await client.read(1, 5_000);
      if (byte.length === 0) break;
      head += byte.toString('latin1');
    }
    expect(head.slice(0, 12), 'the client got no answer to its WebSocket request').toBe('HTTP/1.1 101');
    expect(upgrades.map((entry) => entry.session)).toEqual([old, renewed]);
    client.send('ping');
    expect((await client.read(4)).toString()).toBe('ping');
    // The old session's upgraded connection was dropped.
    await Promise.race([
      new Promise<void>((resolve) => (upgrades[0]!.socket.destroyed ? resolve() : upgrades[0]!.socket.once('close', () => resolve()))),
      new Promise((_, reject) => setTimeout(() => reject(new Error('the old session\'s upgraded connection stayed open')), 3_000)),
    ]);

    await apiJson(port, '/session/new');
    await client.untilClosed(5_000);
  } finally {
    client.destroy();
  }
});
