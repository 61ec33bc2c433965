import { createHash, randomBytes } from 'node:crypto';
import type net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTunnel } from '../helpers/client.js';
import { startEchoServer } from '../helpers/echo-server.js';
import { eventually } from '../helpers/eventually.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { startStickyport, upstreamUrl, type RunningProxy } from '../helpers/stickyport.js';

const TUNNELS = 1_000;
const BYTES = 32 * 1024;

let echo: Awaited<ReturnType<typeof startEchoServer>>;
let upstream: RecordingUpstream;
let proxy: RunningProxy;

beforeAll(async () => {
  echo = await startEchoServer();
  upstream = await startRecordingUpstream();
  proxy = await startStickyport({ Upstream: { Url: upstreamUrl(upstream.port) }, Logging: { Level: 'info' } }, { portCount: 1 });
});

afterAll(async () => {
  await proxy.stop();
  await upstream.close();
  await echo.close();
});

function readExactly(socket: net.Socket, length: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      received += chunk.length;
      if (received >= length) resolve(Buffer.concat(chunks));
    });
    socket.once('error', reject);
    socket.once('close', () => reject(new Error(`tunnel closed after ${received} of ${length} bytes`)));
  });
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

describe('concurrency', () => {
  it(`keeps ${TUNNELS} concurrent tunnels through one port apart: each gets its own bytes back`, async () => {
    const [port] = proxy.ports as [number];
    // All tunnels are open at once before any byte is sent: they are truly concurrent.
    const tunnels = await Promise.all(Array.from({ length: TUNNELS }, () => openTunnel(port, `127.0.0.1:${echo.port}`)));
    expect(tunnels.filter((tunnel) => tunnel.status !== 200)).toEqual([]);
    expect(proxy.app.listeners.connectionCount(port)).toBe(TUNNELS);
    const results = await Promise.all(
      tunnels.map(async ({ socket }) => {
        const payload = randomBytes(BYTES);
        const back = readExactly(socket, BYTES);
        socket.write(payload);
        const echoed = await back;
        socket.destroy();
        return { ok: echoed.length === BYTES && sha256(echoed) === sha256(payload) };
      }),
    );
    expect(results.filter((result) => !result.ok)).toEqual([]);
    const connects = upstream.seen.filter((entry) => entry.kind === 'connect');
    expect(new Set(connects.map((entry) => entry.session)).size).toBe(1);
    await eventually(() => proxy.app.listeners.connectionCount() === 0, 'every tunnel is closed');
    await eventually(() => upstream.openConnections() === 0, 'every upstream tunnel is closed');
  }, 60_000);
});
