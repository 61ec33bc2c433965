import net from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { request } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startSocksUpstream, type SocksUpstream } from '../helpers/socks-upstream.js';
import { startStickyport, type RunningProxy } from '../helpers/stickyport.js';

// Pooled upstream connections and what providers do to them: drop idle ones silently, close
// one just as a request goes out. And which side resolves a target name on SOCKS upstreams.

interface SeenByProvider {
  readonly method: string;
  readonly connection: number;
}

/**
 * A minimal HTTP provider on raw sockets that answers `ok <n>` with keep-alive, and misbehaves
 * as told: after `silentAfterIdleMs` of idleness a connection black-holes (no answer, no FIN,
 * as a NAT or provider that dropped it); with `closeOnSecond` it closes a connection without
 * answering when its second request arrives.
 */
async function startProvider(options: { silentAfterIdleMs?: number; closeOnSecond?: boolean }) {
  const seen: SeenByProvider[] = [];
  const sockets = new Set<net.Socket>();
  let connections = 0;
  const server = net.createServer((socket) => {
    const id = ++connections;
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    let buffered = '';
    let requests = 0;
    let lastActivity = Date.now();
    socket.on('data', (chunk: Buffer) => {
      if (options.silentAfterIdleMs !== undefined && Date.now() - lastActivity > options.silentAfterIdleMs) return;
      buffered += chunk.toString('latin1');
      for (;;) {
        const end = buffered.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buffered.slice(0, end);
        const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
        if (buffered.length < end + 4 + length) return;
        buffered = buffered.slice(end + 4 + length);
        requests++;
        seen.push({ method: head.slice(0, head.indexOf(' ')), connection: id });
        if (options.closeOnSecond && requests === 2) {
          socket.destroy();
          return;
        }
        const body = `ok ${requests}`;
        socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\nKeep-Alive: timeout=60\r\n\r\n${body}`);
        lastActivity = Date.now();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

const running: Array<{ close?: () => Promise<void>; stop?: () => Promise<void> }> = [];
afterEach(async () => {
  for (const item of running.splice(0)) await (item.stop ?? item.close)!();
});

async function proxyTo(providerPort: number, upstream: Record<string, unknown> = {}): Promise<RunningProxy> {
  const proxy = await startStickyport({ Upstream: { Url: `http://user-session-{session}:pw@127.0.0.1:${providerPort}`, ...upstream } }, { portCount: 1 });
  running.push(proxy);
  return proxy;
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('pooled upstream connections', () => {
  it('closes connections idle past Upstream.PoolIdleTimeout, so a POST after a silent drop succeeds', async () => {
    const provider = await startProvider({ silentAfterIdleMs: 600 });
    running.push(provider);
    const proxy = await proxyTo(provider.port, { PoolIdleTimeout: '300ms', ResponseTimeout: '2s' });
    const port = proxy.ports[0]!;
    expect((await request(port, 'http://example.test/')).body).toBe('ok 1');
    // Idle time is what this is about: 800 ms, past the provider's silent drop.
    await pause(800);
    const post = await request(port, 'http://example.test/form', { method: 'POST', body: 'a=1' });
    expect(post.status).toBe(200);
    expect(post.body).toBe('ok 1');
    expect(new Set(provider.seen.map((entry) => entry.connection)).size).toBe(2);
  });

  it('without that limit, the same POST would land on the dead connection (the test can fail)', async () => {
    const provider = await startProvider({ silentAfterIdleMs: 600 });
    running.push(provider);
    const proxy = await proxyTo(provider.port, { PoolIdleTimeout: '10s', ResponseTimeout: '1s' });
    const port = proxy.ports[0]!;
    expect((await request(port, 'http://example.test/')).status).toBe(200);
    await pause(800);
    const post = await request(port, 'http://example.test/form', { method: 'POST', body: 'a=1' });
    expect(post.status).toBe(504);
  });

  it('sends a GET once more on a fresh connection when a reused one closes before any answer byte', async () => {
    const provider = await startProvider({ closeOnSecond: true });
    running.push(provider);
    const proxy = await proxyTo(provider.port);
    const port = proxy.ports[0]!;
    expect((await request(port, 'http://example.test/1')).body).toBe('ok 1');
    const again = await request(port, 'http://example.test/2');
    expect(again.status).toBe(200);
    expect(again.body).toBe('ok 1');
    expect(provider.seen.map((entry) => entry.method)).toEqual(['GET', 'GET', 'GET']);
  });

  it('never sends a POST twice: it gets a 502 instead', async () => {
    const provider = await startProvider({ closeOnSecond: true });
    running.push(provider);
    const proxy = await proxyTo(provider.port);
    const port = proxy.ports[0]!;
    expect((await request(port, 'http://example.test/1')).status).toBe(200);
    const post = await request(port, 'http://example.test/form', { method: 'POST', body: 'a=1' });
    expect(post.status).toBe(502);
    expect(post.headers['x-stickyport-error']).toBe('UPSTREAM_RESET');
    expect(provider.seen.filter((entry) => entry.method === 'POST')).toHaveLength(1);
  });
});

describe('who resolves a target name on a SOCKS upstream (curl meaning of each scheme)', () => {
  let socks: SocksUpstream;
  let origin: Origin;
  beforeAll(async () => {
    socks = await startSocksUpstream('secret');
    origin = await startOrigin();
  });
  afterAll(async () => {
    await socks.close();
    await origin.close();
  });

  it.each([
    ['socks5h', 'domain', 'localhost'],
    ['socks4a', 'socks4a', 'localhost'],
    ['socks', 'domain', 'localhost'],
    ['socks5', 'ipv4', '127.0.0.1'],
    ['socks4', 'ipv4', '127.0.0.1'],
  ])('%s:// sends the upstream a %s target, for plain HTTP and CONNECT alike', async (scheme, addressType, host) => {
    const proxy = await startStickyport({ Upstream: { Url: `${scheme}://user-session-{session}:secret@127.0.0.1:${socks.port}` } }, { portCount: 1 });
    running.push(proxy);
    const port = proxy.ports[0]!;
    const before = socks.connects.length;
    expect((await request(port, `http://localhost:${origin.port}/`)).body).toBe('hello');
    const tunnel = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1', () => socket.write(`CONNECT localhost:${origin.port} HTTP/1.1\r\nHost: x\r\n\r\n`));
      socket.once('data', (chunk: Buffer) => {
        socket.destroy();
        resolve(chunk.toString('latin1', 0, 12));
      });
      socket.once('error', reject);
    });
    expect(tunnel).toBe('HTTP/1.1 200');
    const connects = socks.connects.slice(before);
    expect(connects).toHaveLength(2);
    for (const connect of connects) expect(connect).toMatchObject({ addressType, host, port: origin.port });
  });
});
