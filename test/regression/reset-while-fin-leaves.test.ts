import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import { afterEach, expect, it } from 'vitest';
import { resetSocket } from '../../src/ports/tunnel-cut.js';

// A rotation resets the old session's tunnels (tunnel-cut.ts). When one side had just been
// ended (its peer's FIN passed on), Node 20's reset failed with EINVAL while that FIN was being
// sent: the socket was marked destroyed but its descriptor was never closed and 'close' never
// came, so the listener pool counted the connection for good (a soak run under load left two
// behind). Such a socket is now destroyed instead; one with bytes still held is still reset.

const servers: net.Server[] = [];
// Not awaited: a leaked connection (the bug) would hold server.close() for good.
afterEach(() => {
  for (const server of servers.splice(0)) server.close();
});

/** A connected pair on 127.0.0.1: `near` is the server's side, `far` the client's (it never reads). */
async function pair(): Promise<{ near: net.Socket; far: net.Socket }> {
  const server = net.createServer({ allowHalfOpen: true });
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const far = net.connect({ port: (server.address() as AddressInfo).port, host: '127.0.0.1', allowHalfOpen: true });
  far.pause();
  const [near] = (await once(server, 'connection')) as [net.Socket];
  await once(far, 'connect');
  return { near, far };
}

/** Resolves true on 'close', false if none came within a second (the leak). */
function closes(socket: net.Socket): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), 1_000);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

it('a socket reset in the same tick as its end() still closes (its descriptor is released)', async () => {
  const { near, far } = await pair();
  const errors: string[] = [];
  near.on('error', (error: NodeJS.ErrnoException) => errors.push(error.code ?? error.message));
  far.on('error', () => {});
  near.end();
  resetSocket(near);
  expect(await closes(near)).toBe(true);
  expect(errors).toEqual([]);
  far.destroy();
});

it('a socket reset one tick after its end() still closes', async () => {
  const { near, far } = await pair();
  far.on('error', () => {});
  near.end();
  await new Promise((resolve) => process.nextTick(resolve));
  await new Promise((resolve) => process.nextTick(resolve));
  resetSocket(near);
  expect(await closes(near)).toBe(true);
  far.destroy();
});

/** Bytes `far` receives once `near` (16 MiB written, then ended) is closed by `close`. */
async function delivered(close: (near: net.Socket) => void): Promise<{ closed: boolean; bytes: number }> {
  const { near, far } = await pair();
  near.on('error', () => {});
  far.on('error', () => {});
  // More than the kernel queues take: Node still holds the rest, so the FIN is not yet sent.
  near.write(Buffer.alloc(16 * 1024 * 1024));
  near.end();
  close(near);
  const closed = await closes(near);
  let bytes = 0;
  far.on('data', (chunk: Buffer) => (bytes += chunk.length));
  far.resume();
  // A FIN ends it (it keeps its own side open), a reset closes it.
  await new Promise((resolve) => {
    far.once('end', resolve);
    far.once('close', resolve);
  });
  far.destroy();
  return { closed, bytes };
}

it('a socket ended with bytes still held is reset: what the kernel held for the peer is dropped', async () => {
  // The control: a plain destroy still lets the kernel send what it had queued.
  const destroyed = await delivered((near) => near.destroy());
  const reset = await delivered(resetSocket);
  expect(reset.closed).toBe(true);
  expect(reset.bytes).toBeLessThan(destroyed.bytes);
});

/**
 * The kernel's TCP state of the connection from local port `port` to `remote` (/proc/net/tcp):
 * 08 is CLOSE_WAIT. Both ends named: an earlier connection from the same local port may still
 * be listed (in TIME_WAIT).
 */
function tcpState(port: number, remote: number): string | undefined {
  const hex = (n: number): string => `0100007F:${n.toString(16).toUpperCase().padStart(4, '0')}`;
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields[1] === hex(port) && fields[2] === hex(remote)) return fields[3];
  }
  return undefined;
}

it('a socket whose FIN has left is still reset: the peer, half open after that FIN, is closed too', async () => {
  const { near, far } = await pair();
  near.on('error', () => {});
  far.on('error', () => {});
  const farPort = far.localPort!;
  const nearPort = far.remotePort!;
  near.end();
  await once(near, 'finish');
  // The peer got the FIN and keeps its own side open (CLOSE_WAIT), as a provider may.
  far.resume();
  await once(far, 'end');
  expect(tcpState(farPort, nearPort)).toBe('08');
  resetSocket(near);
  expect(await closes(near)).toBe(true);
  // The reset takes the peer out of CLOSE_WAIT at once; a second FIN-less close would leave it there.
  const until = Date.now() + 1_000;
  while (tcpState(farPort, nearPort) === '08' && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 10));
  expect(tcpState(farPort, nearPort)).not.toBe('08');
  far.destroy();
});
