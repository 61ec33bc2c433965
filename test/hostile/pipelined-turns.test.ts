import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Origin } from '../helpers/origin.js';
import type { RecordingUpstream } from '../helpers/recording-upstream.js';
import { socks5Connect, type RawClient } from '../helpers/socks-client.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { startStickyport, type RunningProxy } from '../helpers/stickyport.js';
import { startEchoServer } from '../helpers/echo-server.js';

// Requests pipelined on one connection are taken one at a time, whatever their kind (README:
// "each waits until the answers before it are written"). Each case here broke that before:
// a CONNECT behind a slow answer went upstream at once, on the session of before a
// /session/new pipelined between them, and its 200 could come before their answers; a request
// behind one refused with 400-and-close still went upstream; and API calls pipelined inside a
// SOCKS connection to portmapper:80 all ran at once.

let stack: Stack;
let origin: Origin;
let upstream: RecordingUpstream;
let proxy: RunningProxy;

beforeAll(async () => {
  stack = await startStack({}, { portCount: 3 });
  ({ origin, upstream, proxy } = stack);
});

afterAll(async () => {
  await stack?.stop();
});

/** Writes `bytes` in one write; resolves everything read once `done(text)` says so, or the connection closed, or 5 s passed. */
function exchange(port: number, bytes: string, done: (text: string) => boolean): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(bytes));
    let text = '';
    const finish = (closed: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ text, closed });
    };
    const timer = setTimeout(() => finish(false), 5_000);
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
      if (done(text)) finish(false);
    });
    socket.on('error', () => undefined);
    socket.once('close', () => finish(true));
  });
}

const sessionOf = (text: string): string | undefined => /"session_id":"([^"]+)"/.exec(text)?.[1];

describe('a CONNECT pipelined behind other requests', () => {
  const slow = () => `GET ${origin.url}/delay/300 HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\n\r\n`;
  const connect = () => `CONNECT 127.0.0.1:${origin.port} HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\n\r\n`;
  const between: Array<[string, (port: number) => string]> = [
    ['/session/new', () => 'GET http://portmapper/session/new HTTP/1.1\r\nHost: portmapper\r\n\r\n'],
    ['/session/reset', () => 'GET http://portmapper/session/reset HTTP/1.1\r\nHost: portmapper\r\n\r\n'],
  ];

  for (const [name, middle] of between) {
    it(`slow GET, ${name}, CONNECT in one write: the CONNECT leaves last, on the new session, and its 200 comes after both answers`, async () => {
      const port = proxy.ports[0]!;
      const seenBefore = upstream.seen.length;
      const { text } = await exchange(port, slow() + middle(port) + connect(), (t) => t.includes('Connection Established'));
      const seen = upstream.seen.slice(seenBefore);
      const get = seen.find((s) => s.kind === 'http');
      const tunnel = seen.find((s) => s.kind === 'connect');
      expect(get && tunnel).toBeTruthy();
      // In order on the wire: the slow answer, the API's, then the 200 of the tunnel.
      const late = text.indexOf('late');
      const api = text.indexOf(name === '/session/new' ? '"session_id"' : '"success":true');
      const established = text.indexOf('HTTP/1.1 200 Connection Established');
      expect(late).toBeGreaterThan(0);
      expect(api).toBeGreaterThan(late);
      expect(established).toBeGreaterThan(api);
      // Left after the API call rotated the port: on the session it made, not the slow GET's.
      expect(tunnel!.session).not.toBe(get!.session);
      expect(tunnel!.at).toBeGreaterThan(get!.at);
      if (name === '/session/new') expect(tunnel!.session).toBe(sessionOf(text));
      else expect(tunnel!.session).toBe(proxy.app.ports.get(port).session?.id);
    });
  }
});

describe('many requests pipelined behind a slow one', () => {
  it('30 behind a slow answer: all answered, in order, without a listener-leak warning', async () => {
    const warnings: string[] = [];
    const onWarning = (warning: Error): void => void warnings.push(warning.name);
    process.on('warning', onWarning);
    try {
      const host = `127.0.0.1:${origin.port}`;
      const requests = [`GET ${origin.url}/delay/200 HTTP/1.1\r\nHost: ${host}\r\n\r\n`];
      for (let i = 0; i < 30; i++) requests.push(`GET ${origin.url}/bytes/${i + 1} HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
      const count = (t: string): number => t.split('HTTP/1.1 200').length - 1;
      const { text } = await exchange(proxy.ports[1]!, requests.join(''), (t) => count(t) === requests.length);
      expect(count(text)).toBe(requests.length);
      // In order: each answer's Content-Length is one more than the one before (after the slow one's 4).
      const lengths = [...text.matchAll(/content-length: (\d+)/gi)].map((m) => Number(m[1]));
      expect(lengths).toEqual([4, ...Array.from({ length: 30 }, (_, i) => i + 1)]);
      // Warnings are emitted on the next tick.
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings).not.toContain('MaxListenersExceededWarning');
    } finally {
      process.off('warning', onWarning);
    }
  });
});

describe('a request pipelined behind one refused with 400 and a close', () => {
  const next = (): string => `GET ${origin.url}/pipelined-after-400 HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\n\r\n`;
  const REFUSED: Array<[string, string]> = [
    ['Transfer-Encoding: gzip, chunked', 'POST http://a.test/refused HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n'],
    ['Transfer-Encoding: identity, chunked', 'POST http://a.test/refused HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: identity, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n'],
    ['HTTP/1.0 keep-alive with chunked', 'POST http://a.test/refused HTTP/1.0\r\nHost: a.test\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n'],
    ['two Host headers', 'GET http://a.test/refused HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n'],
    ['a relative URL', 'GET /refused HTTP/1.1\r\nHost: a.test\r\n\r\n'],
    ['an https:// URL', 'GET https://a.test/refused HTTP/1.1\r\nHost: a.test\r\n\r\n'],
    // Node answered this one itself, behind stickyport's back: a request pipelined after it was
    // forwarded once an answer before it (a session API refusal, written at once) was out.
    ['an HTTP/1.1 request without Host', 'GET http://a.test/refused HTTP/1.1\r\n\r\n'],
    ['an HTTP/2.0 request line (llhttp reads it) without Host', 'GET http://a.test/refused HTTP/2.0\r\n\r\n'],
    ['a WebSocket upgrade without Host', 'GET http://a.test/refused HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n'],
    ['a session API refusal, then an HTTP/1.1 request without Host', 'GET http://portmapper/session/ HTTP/1.1\r\nHost: portmapper\r\nOrigin: http://x.test\r\n\r\nGET http://a.test/refused HTTP/1.1\r\n\r\n'],
  ];
  // What each case is answered: its 400 (after the API's 403 where one comes first).
  const answers = (name: string): string => (name.startsWith('a session API refusal') ? '403,400' : '400');

  it(`${REFUSED.length} refusals: one 400, the close, and the request behind it never reaches the upstream`, async () => {
    const wrong: string[] = [];
    for (const [name, first] of REFUSED) {
      const seenBefore = upstream.seen.length;
      const { text, closed } = await exchange(proxy.ports[1]!, first + next(), () => false);
      const statuses = [...text.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => m[1]).join(',');
      const leaked = upstream.seen.slice(seenBefore).filter((s) => s.target.includes('pipelined-after-400')).length;
      if (statuses !== answers(name) || !closed || leaked !== 0) wrong.push(`${name}: answers ${statuses}, closed ${closed}, sent upstream ${leaked} times`);
      // stickyport's own 400, saying why (Node's was a bare one).
      if (name.includes('without Host') && !text.includes('must carry a Host header')) wrong.push(`${name}: the 400 does not say why: ${JSON.stringify(text)}`);
    }
    // A request sent upstream late would arrive within a few ms of the close: two more round
    // trips through the proxy first.
    for (let i = 0; i < 2; i++) await exchange(proxy.ports[1]!, next().replace('pipelined-after-400', 'after-the-cases'), (text) => text.includes('\r\n\r\n'));
    expect(wrong).toEqual([]);
    expect(upstream.seen.filter((s) => s.target.includes('pipelined-after-400'))).toEqual([]);
    // The count of what reached the origin says the same.
    expect(origin.requests.filter((r) => r.url.includes('pipelined-after-400'))).toEqual([]);
  });
});

describe('session API calls pipelined inside a SOCKS5 connection to portmapper:80', () => {
  /** A SOCKS5 connection to the API host through the third port, granted. */
  async function apiOverSocks(): Promise<RawClient> {
    const { code, client } = await socks5Connect(proxy.ports[2]!, { host: 'portmapper', port: 80 });
    expect(code).toBe(0);
    return client;
  }

  it('are answered one at a time, in order, as over HTTP', async () => {
    const client = await apiOverSocks();
    const calls = ['/session/new', '/session/', '/session/reset', '/session/', '/session/new', '/session/'];
    client.send(calls.map((path) => `GET ${path} HTTP/1.1\r\nHost: portmapper\r\n\r\n`).join(''));
    const answers: string[] = [];
    for (let i = 0; i < calls.length; i++) answers.push((await client.readAnswer()).body);
    client.destroy();
    const [a1, a2, reset, b, c1, c2] = answers.map((body) => sessionOf(body) ?? body);
    expect(reset).toContain('"success":true');
    // A /session/ right after a /session/new sees the new id; after a reset a fresh one.
    expect(a2).toBe(a1);
    expect(b).not.toBe(a1);
    expect(c1).not.toBe(b);
    expect(c2).toBe(c1);
  });

  it('bytes after a call with Connection: close: that call is still answered, then the close', async () => {
    const client = await apiOverSocks();
    client.send('GET /session/ HTTP/1.1\r\nHost: portmapper\r\nConnection: close\r\n\r\nGET /session/ HTTP/1.1\r\nHost: portmapper\r\n\r\n');
    const first = await client.readAnswer();
    expect(first.status).toBe(200);
    expect(sessionOf(first.body)).toBe(proxy.app.ports.get(proxy.ports[2]!).session?.id);
    await client.untilClosed();
  });

  it('a call whose body does not parse: a 400 in the API\'s JSON, then the close', async () => {
    const client = await apiOverSocks();
    client.send('POST /session/new HTTP/1.1\r\nHost: portmapper\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n');
    const answer = await client.readAnswer();
    expect(answer.status).toBe(400);
    expect(JSON.parse(answer.body).error).toBe('bad_request');
    await client.untilClosed();
  });

  it('a CONNECT among them: a 405 after the answers before it, then the close', async () => {
    const client = await apiOverSocks();
    client.send('GET /session/ HTTP/1.1\r\nHost: portmapper\r\n\r\nCONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n');
    const first = await client.readAnswer();
    const second = await client.readAnswer();
    expect(first.status).toBe(200);
    expect(second.status).toBe(405);
    expect(second.body).toContain('method_not_allowed');
    await client.untilClosed();
  });
});

describe('a WebSocket upgrade pipelined behind a slow answer, its first frame and a FIN in the same write', () => {
  let raw: net.Server;
  let wsProxy: RunningProxy;
  const rawSockets = new Set<net.Socket>();

  beforeAll(async () => {
    // A raw upstream proxy: /slow is answered after 300 ms, an upgrade is switched at once and
    // then echoes what it gets.
    raw = net.createServer((socket) => {
      rawSockets.add(socket);
      socket.on('error', () => undefined);
      let buffered = '';
      let switched = false;
      socket.on('data', (chunk: Buffer) => {
        if (switched) return void socket.write(chunk);
        buffered += chunk.toString('latin1');
        for (let end = buffered.indexOf('\r\n\r\n'); end >= 0 && !switched; end = buffered.indexOf('\r\n\r\n')) {
          const head = buffered.slice(0, end);
          buffered = buffered.slice(end + 4);
          if (/\r\nupgrade: websocket/i.test(head)) {
            switched = true;
            socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
            if (buffered) socket.write(buffered);
          } else {
            setTimeout(() => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nslow'), 300);
          }
        }
      });
    });
    raw.listen(0, '127.0.0.1');
    await once(raw, 'listening');
    const { port } = raw.address() as AddressInfo;
    wsProxy = await startStickyport({ Upstream: { Url: `http://customer-acme-session-{session}:secret@127.0.0.1:${port}` } }, { portCount: 1 });
  });

  afterAll(async () => {
    await wsProxy?.stop();
    for (const socket of rawSockets) socket.destroy();
    await new Promise((resolve) => raw?.close(resolve));
  });

  it('gets the slow answer, then the 101 and its frame echoed', async () => {
    const text = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(wsProxy.ports[0]!, '127.0.0.1', () => {
        socket.end(
          'GET http://chat.test/slow HTTP/1.1\r\nHost: chat.test\r\n\r\n' +
            'GET http://chat.test/socket HTTP/1.1\r\nHost: chat.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
            'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\nframe-1',
        );
      });
      let read = '';
      socket.on('data', (chunk: Buffer) => (read += chunk.toString('latin1')));
      socket.on('error', reject);
      socket.on('close', () => resolve(read));
    });
    expect(text).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nslowHTTP\/1\.1 101 [^\r]*\r\n[\s\S]*\r\n\r\nframe-1$/);
  });
});

describe('a CONNECT behind more pipelined requests than a connection may have waiting', () => {
  // Past 64 waiting, the connection is held (not read). A CONNECT parsed then is handed to its
  // tunnel; before the fix, Node's drain resumed the held connection while the answers before
  // the CONNECT flushed, and tunnel bytes the client sent ahead of the 200 were read into
  // nothing: the target never saw them.
  it('its bytes sent before the 200 reach the target, and every answer before it comes first', async () => {
    const echo = await startEchoServer();
    try {
      for (const waiting of [10, 62, 63, 64, 70, 200]) {
        const socket = net.connect(proxy.ports[0]!, '127.0.0.1');
        socket.on('error', () => undefined);
        let text = '';
        const echoed = new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`${waiting}: no echo of the early bytes in ${JSON.stringify(text.slice(-200))}`)), 10_000);
          socket.on('data', (chunk: Buffer) => {
            text += chunk.toString('latin1');
            if (text.includes('EARLY-BYTES')) {
              clearTimeout(timer);
              resolve();
            }
          });
        });
        await once(socket, 'connect');
        const get = `GET ${origin.url}/ HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\n\r\n`;
        socket.write(`GET ${origin.url}/delay/300 HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\n\r\n${get.repeat(waiting)}CONNECT 127.0.0.1:${echo.port} HTTP/1.1\r\nHost: 127.0.0.1:${echo.port}\r\n\r\n`);
        // In a later write, while the slow answer still holds every other one back.
        await new Promise((resolve) => setTimeout(resolve, 50));
        socket.write('EARLY-BYTES');
        await echoed;
        socket.destroy();
        const statuses = [...text.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => m[1]);
        expect(statuses).toHaveLength(waiting + 2);
        expect(statuses.every((status) => status === '200')).toBe(true);
        expect(text.indexOf('Connection Established')).toBeLessThan(text.indexOf('EARLY-BYTES'));
      }
    } finally {
      await echo.close();
    }
  });
});
