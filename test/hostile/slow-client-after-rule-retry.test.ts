import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { startSocksUpstream, type SocksUpstream } from '../helpers/socks-upstream.js';
import { startStickyport, upstreamUrl, type RunningProxy } from '../helpers/stickyport.js';

// A rotate-and-retry rule (a 429, or a marker in the first read of the body) drops the first
// try; the second try's answer is large and its client reads slowly, pausing more than once:
// the answer arrives whole, with the upstream held back while the client does not read.

const TOTAL = 24 * 1024 * 1024;
let source: http.Server;
let sourcePort: number;
const tried = new Set<string>();
let written = 0;
let upstream: RecordingUpstream;
let socks: SocksUpstream;
const proxies: Record<string, RunningProxy> = {};

beforeAll(async () => {
  source = http.createServer((req, res) => {
    const first = !tried.has(req.url!);
    tried.add(req.url!);
    if (first && req.url!.includes('/status/')) return void res.writeHead(429).end('no');
    if (first && req.url!.includes('/marker/')) return void res.writeHead(200, { 'content-length': 20 }).end('captcha here please!');
    res.writeHead(200, { 'content-length': TOTAL });
    const chunk = Buffer.alloc(64 * 1024, 'd');
    let sent = 0;
    const pump = (): void => {
      while (sent < TOTAL) {
        sent += chunk.length;
        written += chunk.length;
        if (!res.write(chunk)) return void res.once('drain', pump);
      }
      res.end();
    };
    pump();
  });
  source.listen(0, '127.0.0.1');
  await once(source, 'listening');
  sourcePort = (source.address() as AddressInfo).port;
  upstream = await startRecordingUpstream();
  socks = await startSocksUpstream('secret');
  const rotation = {
    Rules: [
      { Name: 'limited', When: { Status: [429] }, Action: 'rotate-and-retry', Cooldown: 0 },
      { Name: 'captcha', When: { BodyContains: 'captcha' }, Action: 'rotate-and-retry', Cooldown: 0 },
    ],
  };
  proxies.direct = await startStickyport({ Rotation: rotation, Logging: { Level: 'warn' } }, { portCount: 1 });
  proxies.http = await startStickyport({ Upstream: { Url: upstreamUrl(upstream.port) }, Rotation: rotation, Logging: { Level: 'warn' } }, { portCount: 1 });
  proxies.socks = await startStickyport(
    { Upstream: { Url: `socks5h://customer-acme-session-{session}:secret@127.0.0.1:${socks.port}` }, Rotation: rotation, Logging: { Level: 'warn' } },
    { portCount: 1 },
  );
});

afterAll(async () => {
  await Promise.all(Object.values(proxies).map((proxy) => proxy.stop()));
  await Promise.all([upstream?.close(), socks?.close()]);
  source.closeAllConnections();
  await new Promise((resolve) => source.close(resolve));
});

describe.each(['direct', 'http', 'socks'])('%s', (route) => {
  it.each(['status', 'marker'])('a retried answer (%s) is relayed whole to a slow client', async (kind) => {
    const port = proxies[route]!.ports[0]!;
    const response = await new Promise<http.IncomingMessage>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port, path: `http://127.0.0.1:${sourcePort}/${kind}/${route}`, agent: false }, resolve).on('error', reject);
    });
    expect(response.statusCode).toBe(200);
    let received = 0;
    let pauses = 0;
    const startWritten = written;
    const ended = new Promise<void>((resolve, reject) => {
      response.on('end', resolve);
      response.on('error', reject);
      response.on('close', () => (received === TOTAL ? resolve() : reject(new Error(`closed at ${received}`))));
    });
    response.on('data', (piece: Buffer) => {
      received += piece.length;
      if (received >= (pauses + 1) * 6 * 1024 * 1024 && pauses < 3) {
        pauses++;
        response.pause();
        setTimeout(() => {
          // Held back while the client sleeps: the source is not far ahead of the client.
          expect(written - startWritten - received).toBeLessThan(20 * 1024 * 1024);
          response.resume();
        }, 300);
      }
    });
    await Promise.race([ended, new Promise((_, reject) => setTimeout(() => reject(new Error(`stuck at ${received}`)), 20_000))]);
    expect(received).toBe(TOTAL);
    expect(pauses).toBe(3);
  }, 30_000);
});
