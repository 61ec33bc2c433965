import { once } from 'node:events';
import http from 'node:http';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closed, request } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startHttpTarget } from '../helpers/http-target.js';
import { connectRaw } from '../helpers/raw.js';
import { everyRoute, type RouteName } from '../helpers/every-route.js';

// A forward proxy's HTTP semantics (RFC 9110, 9112): what a client gets through stickyport is
// what it gets from the origin alone, on every route.
let origin: Origin;
const routes = everyRoute();

beforeAll(async () => {
  origin = await startOrigin();
});
afterAll(() => origin?.close());

/** Sends raw bytes and collects everything until the other side closes. */
async function rawUntilClose(port: number, bytes: string): Promise<string> {
  const socket = await connectRaw(port);
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.write(bytes);
  await closed(socket);
  return Buffer.concat(chunks).toString('latin1');
}

/** A GET whose answer keeps its trailers. */
function getWithTrailers(port: number, path: string): Promise<{ body: string; trailers: NodeJS.Dict<string> }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => resolve({ body, trailers: res.trailers }));
      })
      .on('error', reject);
  });
}

describe.each(['direct', 'HTTP upstream', 'SOCKS5 upstream'])('HTTP semantics, %s', (name) => {
  const port = (): number => routes.proxies[name as RouteName].ports[0]!;

  it('never sends a chunked body to an HTTP/1.0 client', async () => {
    const answer = await rawUntilClose(port(), `GET ${origin.url}/chunked HTTP/1.0\r\n\r\n`);
    expect(answer).toMatch(/^HTTP\/1\.[01] 200/);
    expect(answer).not.toMatch(/transfer-encoding/i);
    expect(answer.slice(answer.indexOf('\r\n\r\n') + 4)).toBe('hello world');
  });

  it('drops hop-by-hop request headers, and those Connection names, but nothing end-to-end', async () => {
    const answer = await request(port(), `${origin.url}/headers`, {
      headers: {
        connection: 'keep-alive, X-Named-Hop',
        'x-named-hop': 'secret',
        'keep-alive': 'timeout=5',
        te: 'trailers',
        'proxy-connection': 'keep-alive',
        'proxy-foo': 'for this hop',
        'proxy-status': 'client',
        'x-end-to-end': 'stays',
      },
    });
    const seen = JSON.parse(answer.body) as Record<string, string>;
    for (const gone of ['x-named-hop', 'keep-alive', 'te', 'proxy-connection', 'proxy-authorization', 'proxy-foo', 'proxy-status']) {
      expect(seen[gone], gone).toBeUndefined();
    }
    expect(seen['x-end-to-end']).toBe('stays');
    expect(seen.host).toBe(`127.0.0.1:${origin.port}`);
  });

  it('drops hop-by-hop answer headers, and those Connection names', async () => {
    const answer = await request(port(), `${origin.url}/hop`);
    expect(answer.body).toBe('hop');
    expect(answer.headers['x-end-to-end']).toBe('stays');
    expect(answer.headers['x-hop-named']).toBeUndefined();
    // Every Proxy-* field is about a hop: the provider's about stickyport's own login too.
    for (const gone of ['proxy-authenticate', 'proxy-authentication-info', 'proxy-status']) expect(answer.headers[gone], gone).toBeUndefined();
    expect(answer.headers.trailer).toBeUndefined();
    expect(answer.headers['keep-alive']).not.toBe('timeout=97');
  });

  it('sends the path on byte for byte, as the client wrote it', async () => {
    const path = '/a/../b%2f%zz\\c?x=1&y=%ZZ&z=/../';
    const before = origin.requests.length;
    const answer = await rawUntilClose(port(), `GET ${origin.url}${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    expect(answer).toMatch(/^HTTP\/1\.1 200/);
    expect(origin.requests.slice(before).map((seen) => seen.url)).toEqual([path]);
  });

  it('keeps a fragment to itself: the path and query go on without it', async () => {
    const before = origin.requests.length;
    const answer = await rawUntilClose(port(), `GET ${origin.url}/frag?x=1#@evil.test/?y HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    expect(answer).toMatch(/^HTTP\/1\.1 200/);
    expect(origin.requests.slice(before).map((seen) => seen.url)).toEqual(['/frag?x=1']);
  });

  it('relays trailers', async () => {
    const direct = await getWithTrailers(origin.port, '/trailers');
    const proxied = await new Promise<{ body: string; trailers: NodeJS.Dict<string> }>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port: port(), path: `${origin.url}/trailers`, agent: false }, (res) => {
          let body = '';
          res.on('data', (chunk: Buffer) => (body += chunk.toString()));
          res.on('end', () => resolve({ body, trailers: res.trailers }));
        })
        .on('error', reject);
    });
    expect(proxied).toEqual(direct);
    expect(proxied.trailers['x-checksum']).toBe('abc');
  });

  it('answers HEAD and 304 without a body, and the connection carries on', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const head = await request(port(), `${origin.url}/etag`, { method: 'HEAD', agent });
      expect(head.status).toBe(200);
      expect(head.headers['content-length']).toBe('6');
      expect(head.body).toBe('');
      const notModified = await request(port(), `${origin.url}/etag`, { headers: { 'if-none-match': '"v1"' }, agent });
      expect(notModified.status).toBe(304);
      expect(notModified.body).toBe('');
      const full = await request(port(), `${origin.url}/etag`, { agent });
      expect(full.body).toBe('tagged');
    } finally {
      agent.destroy();
    }
  });

  it('carries an Expect: 100-continue POST', async () => {
    const body = await new Promise<string>((resolve, reject) => {
      const req = http.request({
        host: '127.0.0.1',
        port: port(),
        method: 'POST',
        path: `${origin.url}/echo`,
        headers: { expect: '100-continue', 'content-length': 7 },
        agent: false,
      });
      req.on('continue', () => req.end('payload'));
      req.on('response', (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => (text += chunk.toString()));
        res.on('end', () => resolve(text));
      });
      req.on('error', reject);
    });
    expect(body).toBe('payload');
  });

  it('streams a 100 MB upload to a slow reader with backpressure, never buffering it', async () => {
    const total = 100 * 1024 * 1024;
    const chunk = Buffer.alloc(256 * 1024, 'u');
    let sent = 0;
    const source = new Readable({
      read() {
        if (sent >= total) return void this.push(null);
        sent += chunk.length;
        this.push(chunk);
      },
    });
    const rssBefore = process.memoryUsage().rss;
    let rssPeak = rssBefore;
    const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)), 20);
    try {
      const count = await new Promise<string>((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port: port(), method: 'POST', path: `${origin.url}/count`, headers: { 'content-length': total }, agent: false });
        req.on('response', (res) => {
          let text = '';
          res.on('data', (piece: Buffer) => (text += piece.toString()));
          res.on('end', () => resolve(text));
        });
        req.on('error', reject);
        source.pipe(req);
      });
      expect(Number(count)).toBe(total);
    } finally {
      clearInterval(sampler);
    }
    // Client, proxy, upstream and origin share this process: 100 MB buffered anywhere would show.
    expect(rssPeak - rssBefore).toBeLessThan(60 * 1024 * 1024);
  }, 60_000);

  it('stops reading an answer from upstream while its client does not read, and relays all of it once it does', async () => {
    // An origin of its own that writes 64 MiB as fast as it is read, counting what left it.
    const total = 64 * 1024 * 1024;
    let written = 0;
    let finished!: () => void;
    const allWritten = new Promise<void>((resolve) => (finished = resolve));
    const source = await startHttpTarget((_req, res) => {
      res.writeHead(200, { 'content-length': total });
      const chunk = Buffer.alloc(64 * 1024, 'd');
      const pump = (): void => {
        while (written < total) {
          written += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        res.end(finished);
      };
      pump();
    });
    try {
      const response = await new Promise<http.IncomingMessage>((resolve, reject) => {
        http.get({ host: '127.0.0.1', port: port(), path: `${source.url}/big`, agent: false }, resolve).on('error', reject);
      });
      let received = 0;
      let paused = false;
      const firstMiB = new Promise<void>((resolve) => {
        response.on('data', (piece: Buffer) => {
          received += piece.length;
          if (received >= 1024 * 1024 && !paused) {
            paused = true;
            response.pause();
            resolve();
          }
        });
      });
      await firstMiB;
      // Without backpressure the proxy would read the whole answer into memory while the client
      // sleeps, and the origin would be done at once; with it, the origin stalls a few MiB ahead.
      const origin = await Promise.race([allWritten.then(() => 'all written'), new Promise((resolve) => setTimeout(resolve, 1_000, 'stalled'))]);
      expect(origin).toBe('stalled');
      expect(written - received).toBeLessThan(24 * 1024 * 1024);
      const ended = once(response, 'end');
      response.resume();
      await ended;
      expect(received).toBe(total);
    } finally {
      await source.close();
    }
  }, 60_000);
});

describe('CONNECT tunnels honour half-close', () => {
  it.each(['direct', 'HTTP upstream', 'SOCKS5 upstream'])('%s: a client that sends its request and then FIN still gets the whole answer', async (name) => {
    const socket = await connectRaw(routes.proxies[name as RouteName].ports[0]!);
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.write(`CONNECT 127.0.0.1:${origin.port} HTTP/1.1\r\nHost: x\r\n\r\n`);
    await new Promise<void>((resolve) => {
      const check = (): void => (Buffer.concat(chunks).includes('\r\n\r\n') ? resolve() : void socket.once('data', check));
      check();
    });
    chunks.length = 0;
    socket.end(`GET /bytes/300000 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    await once(socket, 'close');
    const answer = Buffer.concat(chunks);
    const body = answer.subarray(answer.indexOf('\r\n\r\n') + 4);
    expect(answer.toString('latin1', 0, 15)).toBe('HTTP/1.1 200 OK');
    expect(body.length).toBe(300_000);
  });
});

describe('an HTTP/1.0 request with a body', () => {
  it('is forwarded as one request', async () => {
    const answer = await rawUntilClose(routes.proxies.direct.ports[0]!, `POST ${origin.url}/echo HTTP/1.0\r\nContent-Length: 4\r\n\r\nping`);
    expect(answer.endsWith('ping')).toBe(true);
  });
});

