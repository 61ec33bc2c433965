import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readTunnelToClose } from '../helpers/client.js';
import { freePortRange } from '../helpers/ports.js';
import { selfSigned, type SelfSigned } from '../helpers/self-signed.js';
import { spawnStickyport, writeConfig, type SpawnedStickyport } from '../helpers/spawn-stickyport.js';

// The bytes an upstream proxy sends right after its 200, over an https:// upstream (TLS to the
// proxy: the 'data' event path of upstream-reads.ts rather than the reused buffer). Runs the
// built dist/ (npm run build) as its own process, trusting the test CA.

const OK = Buffer.from('HTTP/1.1 200 Connection established\r\n\r\n');
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const PAYLOADS: Record<string, Buffer> = { small: Buffer.from('banner\r\n'), big: randomBytes(3 * 1024 * 1024 + 5) };

let cert: SelfSigned;
let server: tls.Server;
let proc: SpawnedStickyport;
let port = 0;
const sockets = new Set<net.Socket>();

beforeAll(async () => {
  cert = selfSigned();
  server = tls.createServer({ key: cert.key, cert: cert.cert }, (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    let head = '';
    const onData = (chunk: Buffer): void => {
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      socket.removeListener('data', onData);
      const name = /^CONNECT (\w+)-(fin|sep):/.exec(head);
      const payload = PAYLOADS[name?.[1] ?? ''] ?? Buffer.alloc(0);
      if (name?.[2] === 'sep') {
        socket.write(OK, () => socket.end(payload));
      } else {
        socket.end(Buffer.concat([OK, payload]));
      }
    };
    socket.on('data', onData);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const upstreamPort = (server.address() as AddressInfo).port;
  port = await freePortRange(1);
  proc = spawnStickyport(
    ['--config', writeConfig({ Listen: { PortRange: { Start: port, End: port } }, Upstream: { Url: `https://localhost:${upstreamPort}` } })],
    { NODE_EXTRA_CA_CERTS: cert.certFile },
  );
  await proc.waitForLine(/stickyport listening/);
});
afterAll(async () => {
  await proc?.stop('SIGKILL');
  for (const socket of sockets) socket.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});


describe('https:// upstream: bytes right after the 200', () => {
  it.each(['small-fin', 'small-sep', 'big-fin', 'big-sep'])('%s: every byte once, in order, then the end', async (name) => {
    const want = PAYLOADS[name.split('-')[0]!]!;
    const results = await Promise.all(Array.from({ length: 6 }, () => readTunnelToClose(port, `${name}:443`)));
    for (const { head, data, ended } of results) {
      expect(head).toMatch(/^HTTP\/1\.1 200/);
      expect({ length: data.length, sha: sha(data), ended }).toEqual({ length: want.length, sha: sha(want), ended: true });
    }
  });
});
