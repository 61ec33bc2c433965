import { once } from 'node:events';
import http from 'node:http';
import type net from 'node:net';
import type { AddressInfo } from 'node:net';
import { apiJson } from './client.js';
import { RawClient } from './socks-client.js';

/** The upstream's answer that switches an upgrade to a WebSocket. */
export const SWITCH = 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n';

/** A raw WebSocket upgrade request, as a client sends it to the proxy. */
export const WEBSOCKET_UPGRADE =
  'GET http://chat.test/socket HTTP/1.1\r\nHost: chat.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
  'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';

const SESSION_USER = /-session-([^-:]+)/;

export interface RecordedUpgrade {
  /** The session id in the proxy login the upgrade came with. */
  readonly session: string | undefined;
  readonly socket: net.Socket;
}

export interface UpgradeUpstream {
  readonly port: number;
  /** Every upgrade in arrival order. */
  readonly upgrades: RecordedUpgrade[];
  /** Resolves when the first upgrade arrived; rejects after 5 s. */
  firstArrived(): Promise<void>;
  /** Destroys every upgraded socket, then stops listening. */
  close(): Promise<void>;
}

/**
 * An HTTP proxy upstream that records each upgrade with the session of its login. The first
 * upgrade is held unanswered (the test decides what becomes of it; with `echoFirst` its bytes
 * are echoed meanwhile); the others are switched to a WebSocket at once and echo what they get.
 */
export async function startUpgradeUpstream(options: { echoFirst?: boolean } = {}): Promise<UpgradeUpstream> {
  const upgrades: RecordedUpgrade[] = [];
  let arrived: (() => void) | undefined;
  const first = new Promise<void>((resolve) => (arrived = resolve));
  const server = http.createServer((_req, res) => res.writeHead(404, { 'content-length': 0 }).end());
  server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket) => {
    socket.on('error', () => socket.destroy());
    const login = Buffer.from((req.headers['proxy-authorization'] ?? '').slice(6), 'base64').toString();
    upgrades.push({ session: SESSION_USER.exec(login)?.[1], socket });
    if (upgrades.length === 1) {
      if (options.echoFirst) socket.pipe(socket);
      return arrived?.();
    }
    socket.write(SWITCH);
    socket.pipe(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    upgrades,
    firstArrived: () =>
      Promise.race([first, new Promise<void>((_, reject) => setTimeout(() => reject(new Error('the upgrade never reached the upstream')), 5_000))]),
    close: async () => {
      for (const { socket } of upgrades) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** Reads one HTTP answer head (at most 1,000 bytes) off a raw client, without its body. */
export async function readAnswerHead(client: RawClient): Promise<string> {
  let head = '';
  for (let i = 0; i < 1_000 && !head.endsWith('\r\n\r\n'); i++) {
    const byte = await client.read(1, 5_000);
    if (byte.length === 0) break;
    head += byte.toString('latin1');
  }
  return head;
}

/**
 * A WebSocket upgrade sent through `port`, held at the upstream, and the port rotated while it
 * waits (GET /session/new): the client, and the sessions before and after.
 */
export async function upgradeAcrossRotation(upstream: UpgradeUpstream, port: number): Promise<{ client: RawClient; old: string | undefined; renewed: string }> {
  const client = await RawClient.connect(port);
  client.send(WEBSOCKET_UPGRADE);
  await upstream.firstArrived();
  const old = upstream.upgrades[0]!.session;
  const { session_id: renewed } = await apiJson<{ session_id: string }>(port, '/session/new');
  if (renewed === old) throw new Error(`/session/new kept the session ${old}`);
  return { client, old, renewed };
}

