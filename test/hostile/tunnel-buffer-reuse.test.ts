import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTcpServer, type TcpServer } from '../helpers/tcp-server.js';
import { openTunnel } from '../helpers/client.js';
import { everyRoute, ROUTES } from '../helpers/every-route.js';

// Upstream sockets read into one reused 64 KiB buffer each, handed on to the next socket at
// close (src/upstream/upstream-reads.ts). Many tunnels at once, slow and fast clients, clients
// that leave mid-download (their buffers go to the spares while others are still writing) and
// targets that reset: every tunnel that completes must carry its own bytes, exactly.

const TUNNELS = 36;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Sends "<sha256 hex>\n" then a fresh random payload of the size the client asks ("<bytes> <end|reset>\n"), then FIN or RST. */
function startTarget(): Promise<TcpServer> {
  return startTcpServer((socket) => {
    let line = '';
    const onData = (chunk: Buffer) => {
      line += chunk.toString('latin1');
      const nl = line.indexOf('\n');
      if (nl < 0) return;
      socket.removeListener('data', onData);
      socket.resume();
      const [size, how] = line.slice(0, nl).split(' ');
      const payload = randomBytes(Number(size));
      socket.write(`${sha(payload)}\n`);
      if (how === 'reset') {
        socket.write(payload.subarray(0, payload.length >> 1), () => socket.resetAndDestroy());
      } else {
        socket.end(payload);
      }
    };
    socket.on('data', onData);
  });
}

type Kind = 'fast' | 'slow' | 'leave' | 'reset' | 'half-close';
const KINDS: Kind[] = ['fast', 'slow', 'leave', 'reset', 'half-close', 'slow'];

interface Outcome {
  readonly kind: Kind;
  readonly ok: boolean;
  readonly detail: string;
}

function runTunnel(socket: net.Socket, first: Buffer, kind: Kind, size: number): Promise<Outcome> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = first.length > 0 ? [first] : [];
    let received = first.length;
    let ended = false;
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ kind, ok: false, detail: `no close within 30 s, ${received} bytes` });
    }, 30_000);
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      received += chunk.length;
      if (kind === 'slow') {
        socket.pause();
        setImmediate(() => socket.resume());
      }
      if (kind === 'leave' && received > size / 3) socket.destroy();
    });
    socket.once('end', () => (ended = true));
    socket.on('error', () => undefined);
    socket.once('close', () => {
      clearTimeout(timer);
      const all = Buffer.concat(chunks);
      const nl = all.indexOf('\n');
      const want = all.subarray(0, nl).toString();
      const body = all.subarray(nl + 1);
      if (kind === 'leave') return resolve({ kind, ok: true, detail: 'left' });
      if (kind === 'reset') return resolve({ kind, ok: body.length <= size, detail: `reset after ${body.length}` });
      const ok = ended && body.length === size && sha(body) === want;
      resolve({ kind, ok, detail: `${body.length}/${size} ended=${ended} hash ${sha(body) === want ? 'ok' : 'BAD'}` });
    });
    socket.write(`${size} ${kind === 'reset' ? 'reset' : 'end'}\n`);
    if (kind === 'half-close') socket.end();
  });
}

let target: Awaited<ReturnType<typeof startTarget>>;
const routes = everyRoute();

beforeAll(async () => {
  target = await startTarget();
});
afterAll(() => target?.close());

describe.each(ROUTES)('reused read buffers, %s', (name) => {
  it(`${TUNNELS} concurrent tunnels, mixed clients: each completed one byte-exact`, async () => {
    const [port] = routes.proxies[name].ports as [number];
    for (let round = 0; round < 2; round++) {
      const outcomes = await Promise.all(
        Array.from({ length: TUNNELS }, async (_, i) => {
          const kind = KINDS[i % KINDS.length]!;
          const size = 300_000 + ((i * 7919 + round * 104729) % 1_700_000);
          const tunnel = await openTunnel(port, `127.0.0.1:${target.port}`);
          expect(tunnel.status).toBe(200);
          return runTunnel(tunnel.socket, Buffer.from(tunnel.head, 'latin1'), kind, size);
        }),
      );
      const bad = outcomes.filter((o) => !o.ok).map((o) => `${o.kind}: ${o.detail}`);
      expect(bad).toEqual([]);
    }
  });
});
