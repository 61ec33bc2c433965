// An answer of endless 1-byte chunks, relayed to a client that reads as fast as it can. Pausing
// the upstream at the first write the client refused let the proxy read ahead without bound:
// undici, paused, puts the unparsed rest back on its socket, and each resume reads all of it
// plus a fresh read of up to 64 KiB, while a write refused again after a few 1-byte chunks took
// only a few KiB of it (the upstream socket held 46 MB after 15 s with four clients, and the
// relay slowed down as the buffer grew). On the direct route and from an HTTP upstream that
// passes the chunks on as they are,
// what waits on the upstream socket now stays below 1 MiB.
import { readFileSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePortRange } from '../helpers/ports.js';
import { spawnStickyport, writeConfig } from '../helpers/spawn-stickyport.js';
import { startStickyport, upstreamUrl, type RunningProxy } from '../helpers/stickyport.js';

const CLIENT_BYTES = 6 * 1024 * 1024;
let target: net.Server;
let direct: RunningProxy;
let viaUpstream: RunningProxy;
const targetSockets = new Set<net.Socket>();

beforeAll(async () => {
  // Endless 1-byte chunks, as fast as the proxy takes them, for at most 20 s.
  const piece = Buffer.from('1\r\nx\r\n'.repeat(10_000));
  target = net.createServer((socket) => {
    targetSockets.add(socket);
    socket.on('error', () => undefined);
    socket.once('data', () => {
      socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n');
      const until = Date.now() + 20_000;
      const pump = (): void => {
        while (!socket.destroyed && Date.now() < until) {
          if (!socket.write(piece)) return void socket.once('drain', pump);
        }
        socket.destroy();
      };
      pump();
    });
  });
  await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
  direct = await startStickyport({ Listen: { AllowPrivateTargets: true }, Logging: { Level: 'warn' } }, { portCount: 1 });
  // The same server as the provider: it answers the proxied request itself, chunks as they are.
  viaUpstream = await startStickyport({ Upstream: { Url: upstreamUrl((target.address() as AddressInfo).port) }, Logging: { Level: 'warn' } }, { portCount: 1 });
});

afterAll(async () => {
  for (const socket of targetSockets) socket.destroy();
  await direct?.stop();
  await viaUpstream?.stop();
  await new Promise((resolve) => target?.close(resolve));
});

/** This process's sockets connected to `port`: the proxy's side of its connection there. */
function socketsTo(port: number): net.Socket[] {
  const handles = (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles();
  return handles.filter((h): h is net.Socket => h instanceof net.Socket && h.remotePort === port);
}

/** Reads CLIENT_BYTES through `proxyPort`; resolves with the most that ever waited on the proxy's socket to `peerPort`. */
function relayAndWatch(proxyPort: number, peerPort: number): Promise<number> {
  const targetPort = (target.address() as AddressInfo).port;
  return new Promise((resolve, reject) => {
    const client = net.connect(proxyPort, '127.0.0.1', () => {
      client.write(`GET http://127.0.0.1:${targetPort}/tiny HTTP/1.1\r\nHost: 127.0.0.1:${targetPort}\r\n\r\n`);
    });
    let got = 0;
    let most = 0;
    let nextLook = 0;
    const timer = setTimeout(() => finish(new Error(`only ${got} bytes within 15 s`)), 15_000);
    const finish = (error?: Error): void => {
      clearTimeout(timer);
      client.destroy();
      if (error) reject(error);
      else resolve(most);
    };
    client.on('error', (error) => finish(error));
    client.on('data', (chunk: Buffer) => {
      got += chunk.length;
      // Looked at every 256 KiB the client gets: the proxy's read-ahead at that moment.
      if (got >= nextLook) {
        nextLook = got + 256 * 1024;
        for (const socket of socketsTo(peerPort)) most = Math.max(most, socket.readableLength);
      }
      if (got >= CLIENT_BYTES) finish();
    });
  });
}

describe('an answer of endless 1-byte chunks, read by a fast client', () => {
  it('direct: the proxy reads ahead less than 1 MiB', async () => {
    const most = await relayAndWatch(direct.ports[0]!, (target.address() as AddressInfo).port);
    expect(most).toBeLessThan(1024 * 1024);
  }, 20_000);

  it('through an HTTP upstream: the proxy reads ahead less than 1 MiB', async () => {
    const most = await relayAndWatch(viaUpstream.ports[0]!, (target.address() as AddressInfo).port);
    expect(most).toBeLessThan(1024 * 1024);
  }, 20_000);
});

// Each write to a client costs Node four buffered writes for a chunked answer: relaying 1-byte
// chunks one by one to clients that stopped reading held about 17 MB of write objects per
// connection (100 such clients: 1.9 GB after 10 s). Small pieces of one read now go out as
// one write.
describe('answers of endless 1-byte chunks to 40 clients that stopped reading', () => {
  it('cost the proxy little memory each: the pieces are written together', async () => {
    const targetPort = (target.address() as AddressInfo).port;
    const start = await freePortRange(1);
    const proc = spawnStickyport(['--config', writeConfig({ Listen: { PortRange: { Start: start, End: start }, AllowPrivateTargets: true } })]);
    const clients: net.Socket[] = [];
    try {
      await proc.waitForLine(/stickyport listening/);
      const status = (): string => readFileSync(`/proc/${proc.child.pid}/status`, 'utf8');
      const before = Number(/VmRSS:\s+(\d+)/.exec(status())![1]) / 1024;
      // Each client reads the head, then stops reading: what the proxy takes from the target
      // waits in the proxy until the kernel's buffers are full.
      await Promise.all(
        Array.from({ length: 40 }, () => {
          const client = net.connect(start, '127.0.0.1');
          clients.push(client);
          client.on('error', () => undefined);
          client.write(`GET http://127.0.0.1:${targetPort}/stalled HTTP/1.1\r\nHost: 127.0.0.1:${targetPort}\r\n\r\n`);
          return new Promise<void>((resolve) => client.once('data', () => resolve(void client.pause())));
        }),
      );
      // Four seconds of the targets pumping (each target connection stops after 20 s).
      await new Promise((resolve) => setTimeout(resolve, 4_000));
      const peak = Number(/VmHWM:\s+(\d+)/.exec(status())![1]) / 1024;
      expect(peak - before).toBeLessThan(150);
      expect(proc.child.exitCode).toBeNull();
    } finally {
      for (const client of clients) client.destroy();
      await proc.stop('SIGKILL');
    }
  }, 30_000);
});
