import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWithAdmin, type AdminAnswer } from '../helpers/admin.js';
import { apiJson, request } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { upstreamUrl, type RunningProxy } from '../helpers/stickyport.js';
import type { AdminClient } from '../helpers/admin.js';

// Hostile requests to the admin server: odd port spellings, bodies that are too big, slow, not
// JSON or not what a selection is, path tricks on the status page, and many control calls at
// once while traffic flows. Each gets a clear 4xx (or its 200), the server stays up, and no file
// outside the page's folder is served.

/** One raw request on its own connection; the whole answer as text (the server closes or we time out). */
function raw(port: number, text: string | Buffer, timeoutMs = 5_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(Buffer.concat(chunks).toString('latin1'));
    }, timeoutMs);
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      // One answer is enough: stop once its body is complete.
      const seen = Buffer.concat(chunks).toString('latin1');
      const head = seen.indexOf('\r\n\r\n');
      const length = /content-length: (\d+)/i.exec(seen);
      if (head >= 0 && length && seen.length >= head + 4 + Number(length[1])) {
        clearTimeout(timer);
        socket.destroy();
        resolve(seen);
      }
    });
    socket.on('error', (error) => {
      clearTimeout(timer);
      chunks.length > 0 ? resolve(Buffer.concat(chunks).toString('latin1')) : reject(error);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('latin1'));
    });
    socket.write(text);
  });
}

const statusOf = (answer: string): number => Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0);

describe('hostile admin requests', () => {
  let upstream: RecordingUpstream;
  let origin: Origin;
  let proxy: RunningProxy & { admin: AdminClient };
  let port: number;
  beforeAll(async () => {
    upstream = await startRecordingUpstream();
    origin = await startOrigin();
    proxy = await startWithAdmin({ Upstream: { Url: upstreamUrl(upstream.port) } }, { portCount: 3 });
    port = proxy.ports[0]!;
  });
  afterAll(async () => {
    await proxy?.stop();
    await upstream?.close();
    await origin?.close();
  });

  it('port numbers spelt oddly are 404s, never another port', async () => {
    const hex = `0x${port.toString(16)}`;
    const spellings = ['1e3', '-0', hex, `${port}.5`, `${port}.0`, `%20${port}`, `%3${String(port)[0]}${String(port).slice(1)}`, '0', '99999', '123456', `${port}%00`, `${port}/`, `+${port}`];
    for (const spelling of spellings) {
      const got = await proxy.admin.get(`/api/ports/${spelling}`);
      expect([404, 400], spelling).toContain(got.status);
      const posted = await proxy.admin.post(`/api/ports/${spelling}/new`);
      expect([404, 400], spelling).toContain(posted.status);
    }
    expect((await proxy.admin.get(`/api/ports/${port}`)).status).toBe(200);
  });

  it('bulk selections of the wrong shape are 400 or 404, and change nothing', async () => {
    const before = (await apiJson<{ session_id: string }>(port, '/session/')).session_id;
    const bodies: unknown[] = [
      { ports: [1e3] },
      { ports: [-0] },
      { ports: [port + 0.5] },
      { ports: [String(port)] },
      { ports: [1e308] },
      { ports: [port, 1e308] },
      { ports: [] },
      { ports: {} },
      { range: '0-99999' },
      { range: `${port}-${port - 1}` },
      { range: `${port}-${port}x` },
      { range: 10201 },
      { mapping: { __proto__: 'x' } },
      { mapping: 'constructor' },
      { mapping: '__proto__' },
      { mapping: 'toString' },
      JSON.parse('{"__proto__": {"ports": [1]}}'),
      { ports: [port], range: `${port}-${port}` },
      null,
      [port],
      'x',
      7,
    ];
    for (const body of bodies) {
      const answer = await proxy.admin.post('/api/sessions/new', body);
      expect([400, 404], JSON.stringify(body)).toContain(answer.status);
      expect(answer.json, JSON.stringify(body)).toMatchObject({ error: expect.any(String), message: expect.any(String) });
    }
    expect((await apiJson<{ session_id: string }>(port, '/session/')).session_id).toBe(before);
  });

  it('bodies: not JSON, the wrong content type, NUL bytes: 400s; over 64 KiB: 413s; and the server keeps serving', async () => {
    const admin = proxy.admin.port;
    const post = (body: string | Buffer, type = 'application/json'): string =>
      `POST /api/sessions/reset HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: ${type}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
    expect(statusOf(await raw(admin, post('{"ports": [')))).toBe(400);
    expect(statusOf(await raw(admin, post('{"ports": [1]}\u0000')))).toBe(400);
    expect(statusOf(await raw(admin, post('ports=1', 'application/x-www-form-urlencoded')))).toBe(400);
    expect(statusOf(await raw(admin, post(`{"ports": [${Array(40_000).fill(port).join(',')}]}`)))).toBe(413);
    // A body far bigger than the limit, sent as fast as the socket takes it: a 413, not a hang.
    const huge = Buffer.alloc(8 * 1024 * 1024, 0x20);
    const answer = await raw(admin, Buffer.concat([Buffer.from(`POST /api/sessions/reset HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${huge.length}\r\n\r\n`), huge]));
    expect(statusOf(answer)).toBe(413);
    // Chunked, unending: the 413 comes once the limit is passed.
    const chunk = 'x'.repeat(16 * 1024);
    const chunked = `POST /api/sessions/reset HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n${`${chunk.length.toString(16)}\r\n${chunk}\r\n`.repeat(8)}`;
    expect(statusOf(await raw(admin, chunked))).toBe(413);
    expect((await proxy.admin.get('/api/summary')).status).toBe(200);
  });

  it('a slow body holds only its own connection', async () => {
    const socket = net.connect(proxy.admin.port, '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write('POST /api/sessions/new HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{"ports": [');
    try {
      const calls = await Promise.all([proxy.admin.get('/api/ports'), proxy.admin.post(`/api/ports/${port}/new`), proxy.admin.get('/healthz')]);
      expect(calls.map((call) => call.status)).toEqual([200, 200, 200]);
    } finally {
      socket.destroy();
    }
  });

  it('path tricks on the status page serve only the page\'s files', async () => {
    const admin = proxy.admin.port;
    const tricks = [
      '/../package.json',
      '/%2e%2e/package.json',
      '/%2e%2e%2fpackage.json',
      '/..%2f..%2fpackage.json',
      '/index.html%00.json',
      '/index.html%00',
      '/app.js/../../../package.json',
      '//etc/passwd',
      '/./../../etc/passwd',
      '/%5c..%5cpackage.json',
      '/..\\..\\package.json',
      '/admin-server.js',
      '/page/index.html',
      '/INDEX.HTML',
      '/index.html/',
      '/favicon.svg/..%2f..%2fadmin-server.js',
    ];
    for (const trick of tricks) {
      const answer = await raw(admin, `GET ${trick} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
      const status = statusOf(answer);
      const body = answer.slice(answer.indexOf('\r\n\r\n') + 4);
      // Either refused, or one of the page's own files (the URL parser folds "/%2e%2e/" to "/").
      expect(status === 200 ? /<!doctype html>|<svg|\bfunction\b|[{};]/i.test(body) : [400, 404, 421].includes(status), `${trick}: ${status}`).toBe(true);
      expect(body, trick).not.toMatch(/"name":\s*"stickyport"|root:x:0:0|class AdminServer/);
    }
    expect((await proxy.admin.get('/healthz')).status).toBe(200);
  });

  it('a CONNECT, another method on a page file, and a path starting with // each get a 4xx that says why', async () => {
    const admin = proxy.admin.port;
    // Node closed a CONNECT nobody listened for without an answer.
    const connect = await raw(admin, `CONNECT 127.0.0.1:${port} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
    expect(statusOf(connect)).toBe(400);
    expect(connect).toContain('"error":"not_a_proxy"');
    // A page file named with PUT or POST was "no such path".
    for (const method of ['PUT', 'POST', 'DELETE']) {
      const answer = await raw(admin, `${method} / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
      expect(statusOf(answer), method).toBe(405);
      expect(answer.toLowerCase()).toContain('allow: get, head');
    }
    // `//api/summary` was read as host "api", path "/summary".
    const doubled = await raw(admin, 'GET //api/summary HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
    expect(statusOf(doubled)).toBe(404);
    expect(doubled).toContain('no such admin path: //api/summary');
    expect((await proxy.admin.get('/healthz')).status).toBe(200);
  });

  it('many rotations of one port at once while requests flow through it: every call answers, the port ends on one session', async () => {
    const calls: Array<Promise<AdminAnswer>> = [];
    const traffic: Array<Promise<number>> = [];
    for (let i = 0; i < 60; i++) {
      calls.push(proxy.admin.post(`/api/ports/${port}/${i % 2 === 0 ? 'new' : 'reset'}`));
      if (i % 3 === 0) calls.push(proxy.admin.post('/api/sessions/new', { ports: [port, port + 1] }));
      traffic.push(request(port, `${origin.url}/x`).then((answer) => answer.status));
    }
    const [answers, statuses] = await Promise.all([Promise.all(calls), Promise.all(traffic)]);
    expect(answers.map((answer) => answer.status).filter((status) => status !== 200)).toEqual([]);
    expect(statuses.filter((status) => status !== 200)).toEqual([]);
    const settled = (await apiJson<{ session_id: string }>(port, '/session/')).session_id;
    const view = await proxy.admin.get(`/api/ports/${port}`);
    expect(view.json.session.id).toBe(settled);
    // Whatever went upstream after the calls settled carries that id.
    await request(port, `${origin.url}/after`);
    expect(upstream.sessions().at(-1)).toBe(settled);
  });
});
