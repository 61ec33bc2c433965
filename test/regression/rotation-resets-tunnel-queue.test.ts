import { EventEmitter, once } from 'node:events';
import { readFileSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { request } from '../helpers/client.js';
import { socks5Connect } from '../helpers/socks-client.js';
import { startStickyport, type RunningProxy } from '../helpers/stickyport.js';

// A rotation closed an old session's tunnel with a plain close: the kernel still sent what it
// held for the upstream (3.8 MB of a client's upload on a slow provider link), on the old
// session, after the rotation was answered, and ended it with a FIN, so the provider saw a
// complete upload. The tunnel is now reset on both sides at once: what stickyport still held is
// dropped, and the provider gets only what had reached its own receive queue before the
// rotation. (An adversarial pass found it with a slow-reading provider, for HTTP CONNECT and
// SOCKS5 alike; both go through the same tunnel code.)

/** A provider that opens every CONNECT at once, then reads nothing until told to. */
interface SlowProvider {
  readonly port: number;
  /** Resolves with the next tunnel's socket once its 200 is written. */
  nextTunnel(): Promise<net.Socket>;
  close(): Promise<void>;
}

async function startSlowProvider(): Promise<SlowProvider> {
  const opened = new EventEmitter();
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    let head = '';
    const onData = (chunk: Buffer): void => {
      head += chunk.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.removeListener('data', onData);
      socket.pause();
      // Bytes read past the head are tunnel bytes: the client sends none before its 200.
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n', () => opened.emit('tunnel', socket));
    };
    socket.on('data', onData);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    nextTunnel: () => once(opened, 'tunnel').then(([socket]) => socket as net.Socket),
    close: () => {
      // A tunnel left paused by a failed check would hold server.close() for good.
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

let provider: SlowProvider;
let proxy: RunningProxy;
let stopped = false;

beforeAll(async () => {
  provider = await startSlowProvider();
  proxy = await startStickyport({ Upstream: { Url: `http://customer-x-session-{session}:pw@127.0.0.1:${provider.port}` }, Logging: { Level: 'warn' } }, { portCount: 1 });
});

afterAll(async () => {
  if (!stopped) await proxy?.stop();
  await provider?.close();
});

/** Bytes waiting unread in the receive queue of the 127.0.0.1 socket local:remote (Linux, /proc/net/tcp). */
function unreadBytes(localPort: number, remotePort: number): number {
  const hex = (port: number): string => port.toString(16).toUpperCase().padStart(4, '0');
  const local = `0100007F:${hex(localPort)}`;
  const remote = `0100007F:${hex(remotePort)}`;
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (fields[1] === local && fields[2] === remote) return Number.parseInt(fields[4]!.split(':')[1]!, 16);
  }
  throw new Error(`no socket ${local} -> ${remote} in /proc/net/tcp`);
}

/** Waits for 'drain' up to `ms`: false when the writes stayed refused that long. */
function drained(socket: net.Socket, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      socket.removeListener('drain', onDrain);
      resolve(false);
    }, ms);
    const onDrain = (): void => {
      clearTimeout(timer);
      resolve(true);
    };
    socket.once('drain', onDrain);
  });
}

/** A tunnel through stickyport's port to 127.0.0.1:9, open and answered, by HTTP CONNECT or SOCKS5. */
async function openTunnelBy(kind: 'CONNECT' | 'SOCKS5', port: number): Promise<net.Socket> {
  if (kind === 'SOCKS5') {
    const { code, client } = await socks5Connect(port, { host: '127.0.0.1', port: 9 });
    expect(code).toBe(0);
    return client.socket;
  }
  const client = net.connect({ host: '127.0.0.1', port });
  client.on('error', () => {});
  await once(client, 'connect');
  client.write('CONNECT 127.0.0.1:9 HTTP/1.1\r\nHost: 127.0.0.1:9\r\n\r\n');
  const [answer] = (await once(client, 'data')) as [Buffer];
  expect(answer.toString()).toMatch(/^HTTP\/1\.1 200/);
  return client;
}

it.each(['CONNECT', 'SOCKS5'] as const)('a rotation resets an old %s tunnel holding a queued upload: the provider reads only what had reached it before', async (kind) => {
  const port = proxy.ports[0]!;
  const tunnelled = provider.nextTunnel();
  const client = await openTunnelBy(kind, port);
  const clientEnd = new Promise<string>((resolve) => {
    client.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
    client.on('close', () => resolve('close'));
  });
  const upstreamSide = await tunnelled;
  const stickyportSide = upstreamSide.remotePort!;

  // Upload until the whole chain backs up (the provider reads nothing): stickyport's socket to
  // the provider then holds megabytes in its send queue. Bounded in bytes and time.
  const chunk = Buffer.alloc(64 * 1024, 'u');
  let backedUp = false;
  for (let i = 0; i < 2_000 && !backedUp; i++) {
    if (!client.write(chunk)) backedUp = !(await drained(client, 300));
  }
  expect(backedUp).toBe(true);

  // What has reached the provider's side, in its kernel and in its socket's own buffer (it stays
  // put: the provider reads nothing and its window is closed). Only this may be read from now on.
  const reachedBeforeRotation = unreadBytes(provider.port, stickyportSide) + upstreamSide.readableLength;
  expect(reachedBeforeRotation).toBeGreaterThan(0);
  const rotated = await request(port, 'http://portmapper/session/new');
  expect(rotated.status).toBe(200);

  // Now the provider reads again, to the end of the connection.
  let readAfterAnswer = 0;
  upstreamSide.on('data', (bytes: Buffer) => (readAfterAnswer += bytes.length));
  const upstreamClosed = once(upstreamSide, 'close');
  upstreamSide.resume();
  await upstreamClosed;
  // Before, it read stickyport's whole send queue as well (3.8 MB in the pass that found it).
  expect(readAfterAnswer).toBeLessThanOrEqual(reachedBeforeRotation);
  // The client's tunnel was cut, not ended as if complete.
  expect(await clientEnd).toBe('ECONNRESET');
});

// Last: it stops the proxy. A stop is no rotation: its tunnels close plainly, with a FIN both ways
// (an adversarial review found the upstream side reset at a stop once the rotation's cut existed).
it('a stop closes an open tunnel with a FIN on the provider side, not a reset', async () => {
  const tunnelled = provider.nextTunnel();
  const client = await openTunnelBy('CONNECT', proxy.ports[0]!);
  const upstreamSide = await tunnelled;
  const upstreamEnd = new Promise<string>((resolve) => {
    upstreamSide.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
    upstreamSide.on('end', () => resolve('end'));
  });
  upstreamSide.resume();
  stopped = true;
  await proxy.stop();
  expect(await upstreamEnd).toBe('end');
  client.destroy();
});
