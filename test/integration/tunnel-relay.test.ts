import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTcpServer, type TcpServer } from '../helpers/tcp-server.js';
import { openTunnel } from '../helpers/client.js';
import { everyRoute, ROUTES } from '../helpers/every-route.js';

// The upstream side of a tunnel reads into one reused buffer and pauses while a write of it is
// pending (src/proxy/tunnel.ts). A slow client makes writes pend; a corrupted or lost byte
// shows in the checksum.
const PAYLOAD = randomBytes(24 * 1024 * 1024);
const BANNER = '220 target speaks first\r\n';
const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** A TCP target: sends BANNER on connect; "GET" makes it send PAYLOAD and end its side. */
function startTarget(): Promise<TcpServer> {
  return startTcpServer((socket) => {
    socket.write(BANNER);
    socket.once('data', () => socket.end(PAYLOAD));
  });
}

/** Reads everything until the proxy ends the stream, pausing after every chunk like a busy client. */
function readSlowlyToEnd(socket: net.Socket, first: Buffer): Promise<{ data: Buffer; ended: boolean }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [first];
    let ended = false;
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      socket.pause();
      setImmediate(() => socket.resume());
    });
    socket.once('end', () => (ended = true));
    socket.once('error', reject);
    socket.once('close', () => resolve({ data: Buffer.concat(chunks), ended }));
  });
}

let target: Awaited<ReturnType<typeof startTarget>>;
const routes = everyRoute();

beforeAll(async () => {
  target = await startTarget();
});
afterAll(() => target?.close());

describe.each(ROUTES)('tunnel relay, %s', (name) => {
  it('carries a target that speaks first, 24 MiB to a slow client intact, then its end of stream', async () => {
    const [port] = routes.proxies[name].ports as [number];
    const tunnel = await openTunnel(port, `127.0.0.1:${target.port}`);
    expect(tunnel.status).toBe(200);
    // Node's CONNECT client hands over bytes that came with the 200 answer as `head`.
    const received = readSlowlyToEnd(tunnel.socket, Buffer.from(tunnel.head));
    tunnel.socket.write('GET');
    const { data, ended } = await received;
    expect(data.subarray(0, BANNER.length).toString()).toBe(BANNER);
    const body = data.subarray(BANNER.length);
    expect(body.length).toBe(PAYLOAD.length);
    expect(sha256(body)).toBe(sha256(PAYLOAD));
    expect(ended).toBe(true);
  });
});
