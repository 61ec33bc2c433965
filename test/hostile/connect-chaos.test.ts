import net from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTcpServer, type TcpServer } from '../helpers/tcp-server.js';
import { eventually } from '../helpers/eventually.js';
import { startStickyport, type RunningProxy } from '../helpers/stickyport.js';

// CONNECTs through an HTTP upstream that answers each one differently (data after its 200, a
// FIN or a reset at any point, a refusal, garbage, silence), with clients that leave at any
// point. Every client gets at most one answer head and its connection closes; once all are
// done no connection, tunnel or upstream socket is left open.

const BEHAVIOURS = ['data-fin', 'data-rst', 'fin', 'rst', '407', 'garbage', 'silent', 'echo'] as const;
type Behaviour = (typeof BEHAVIOURS)[number];
const CLIENTS = ['read', 'leave-early', 'leave-after-head', 'half-close'] as const;

let upstream: TcpServer;
let proxy: RunningProxy;

beforeAll(async () => {
  upstream = await startTcpServer((socket) => {
    let head = '';
    const onData = (chunk: Buffer): void => {
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      socket.removeListener('data', onData);
      const behaviour = (/^CONNECT ([\w-]+)\.test:/.exec(head)?.[1] ?? 'rst') as Behaviour;
      const ok = 'HTTP/1.1 200 OK\r\n\r\n';
      switch (behaviour) {
        case 'data-fin':
          return void socket.end(`${ok}${'d'.repeat(100_000)}`);
        case 'data-rst':
          return void socket.write(`${ok}${'d'.repeat(100_000)}`, () => socket.resetAndDestroy());
        case 'fin':
          return void socket.end(ok);
        case 'rst':
          return void socket.write(ok, () => socket.resetAndDestroy());
        case '407':
          return void socket.end('HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n');
        case 'garbage':
          return void socket.end('\x16\x03\x01 not http at all\r\n\r\n');
        case 'silent':
          return void socket.resume();
        case 'echo':
          socket.write(ok);
          socket.pipe(socket);
          return;
      }
    };
    socket.on('data', onData);
  });
  proxy = await startStickyport({ Upstream: { Url: `http://127.0.0.1:${upstream.port}`, ConnectTimeout: '1s' }, Listen: { IdleTimeout: '3s' }, Logging: { Level: 'warn' } }, { portCount: 1 });
});
afterAll(async () => {
  await proxy?.stop();
  await upstream?.close();
});

function client(port: number, behaviour: Behaviour, kind: (typeof CLIENTS)[number]): Promise<{ heads: number; closed: boolean }> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => {
      socket.write(`CONNECT ${behaviour}.test:443 HTTP/1.1\r\nHost: ${behaviour}.test:443\r\n\r\n`);
      if (kind === 'leave-early') socket.destroy();
      if (kind === 'half-close') socket.end('hello');
    });
    let raw = '';
    socket.on('data', (chunk: Buffer) => {
      raw += chunk.toString('latin1');
      if (kind === 'leave-after-head' && raw.includes('\r\n\r\n')) socket.destroy();
      if (kind === 'read' && behaviour === 'echo' && raw.includes('\r\n\r\n') && !raw.includes('ping')) socket.end('ping');
    });
    socket.on('error', () => undefined);
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ heads: -1, closed: false });
    }, 8_000);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve({ heads: [...raw.matchAll(/(?:^|\r\n)HTTP\/1\.1 \d{3}/g)].length, closed: true });
    });
  });
}

it('300 mixed CONNECTs: one head at most each, every connection closes, nothing left open', async () => {
  const [port] = proxy.ports as [number];
  const jobs: Array<Promise<{ heads: number; closed: boolean }>> = [];
  for (let i = 0; i < 300; i++) jobs.push(client(port, BEHAVIOURS[i % BEHAVIOURS.length]!, CLIENTS[Math.floor(i / BEHAVIOURS.length) % CLIENTS.length]!));
  const results = await Promise.all(jobs);
  expect(results.filter((r) => !r.closed).length).toBe(0);
  expect(results.filter((r) => r.heads > 1).length).toBe(0);
  await eventually(
    () => proxy.app.status()[0]!.connections === 0 && upstream.connections === 0,
    `no client connection (${proxy.app.status()[0]!.connections}) and no upstream socket (${upstream.connections}) left`,
  );
});
