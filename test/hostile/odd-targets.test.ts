import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectStatus } from '../helpers/client.js';
import type { Origin } from '../helpers/origin.js';
import { eventually } from '../helpers/eventually.js';
import { rawExchange, statusOf } from '../helpers/raw.js';
import type { RecordingUpstream } from '../helpers/recording-upstream.js';
import { socks5Connect } from '../helpers/socks-client.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { startStickyport, upstreamUrl, type RunningProxy } from '../helpers/stickyport.js';

// Targets no proxy should pass on, and the session API's host spelled other ways: each is a
// 400 (or the API's own answer) and nothing reaches the upstream. Before, a CONNECT with user
// info, a path or port 0 went upstream, and so did `portmapper.` and `u:p@portmapper`.

let stack: Stack;
let origin: Origin;
let upstream: RecordingUpstream;
let proxy: RunningProxy;

beforeAll(async () => {
  stack = await startStack({}, { portCount: 1 });
  ({ origin, upstream, proxy } = stack);
});

afterAll(async () => {
  await stack?.stop();
});

/** Sends one request with `Connection: close`; its status, and how many requests reached the upstream meanwhile. */
async function through(line: string, host: string): Promise<{ status: number; sent: number }> {
  const before = upstream.seen.length;
  const answer = await rawExchange(proxy.ports[0]!, `${line} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
  return { status: statusOf(answer), sent: upstream.seen.length - before };
}

describe('CONNECT targets that are not host:port', () => {
  const o = () => `127.0.0.1:${origin.port}`;
  const BAD = (): string[] => [
    `user@${o()}`,
    `user:pw@${o()}`,
    `${o()}/path`,
    `${o()}?q=1`,
    `${o()}#f`,
    '127.0.0.1:0',
    '127.0.0.1:00',
    '127.0.0.1:65536',
    '127.0.0.1:99999',
    '127.0.0.1:123456',
    '127.0.0.1:',
    '127.0.0.1',
    ':443',
    '[::1]',
    'a:b:443',
  ];

  it('each a 400, nothing sent upstream; a good target still opens (the control)', async () => {
    const wrong: string[] = [];
    for (const target of BAD()) {
      const { status, sent } = await through(`CONNECT ${target}`, target);
      if (status !== 400 || sent !== 0) wrong.push(`${target}: ${status}, ${sent} sent`);
    }
    expect(wrong).toEqual([]);
    const before = upstream.seen.length;
    expect(await connectStatus(proxy.ports[0]!, o())).toBe(200);
    expect(upstream.seen.length - before).toBe(1);
  });
});

describe("the session API's host spelled other ways", () => {
  const SPELLINGS: Array<[string, string]> = [
    ['CONNECT portmapper.:443', 'portmapper.:443'],
    ['CONNECT PortMapper:80', 'portmapper:80'],
    ['CONNECT user@portmapper:443', 'portmapper:443'],
    ['GET http://portmapper./session/', 'portmapper.'],
    ['GET http://PORTMAPPER./session/new', 'portmapper'],
    ['GET http://u:p@portmapper/session/new', 'portmapper'],
    ['GET http://portmapper:080/session/', 'portmapper'],
    ['GET http://portmapper:8080/session/', 'portmapper'],
    ['GET http://portmapper.:80/x', 'portmapper'],
  ];

  it(`${SPELLINGS.length} spellings: a 400 or the API's answer, never the upstream`, async () => {
    const wrong: string[] = [];
    for (const [line, host] of SPELLINGS) {
      const { status, sent } = await through(line, host);
      if (sent !== 0 || (status !== 400 && status !== 200)) wrong.push(`${line}: ${status}, ${sent} sent`);
    }
    expect(wrong).toEqual([]);
  });

  it('a SOCKS5 CONNECT to portmapper.:80 reaches the API, not the upstream', async () => {
    const before = upstream.seen.length;
    const { code, client } = await socks5Connect(proxy.ports[0]!, { host: 'portmapper.', port: 80 });
    expect(code).toBe(0);
    const answer = await client.send('GET /session/ HTTP/1.1\r\nHost: portmapper\r\n\r\n').readAnswer();
    client.destroy();
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body).session_id).toBe(proxy.app.ports.get(proxy.ports[0]!).session?.id);
    expect(upstream.seen.length).toBe(before);
  });
});

describe('plain-HTTP URLs with no host to send', () => {
  it('http:///x and port 0: a 400, nothing sent; a good URL still goes (the control)', async () => {
    expect(await through('GET http:///x', 'x')).toEqual({ status: 400, sent: 0 });
    expect(await through(`GET http://127.0.0.1:0/`, '127.0.0.1:0')).toEqual({ status: 400, sent: 0 });
    expect(await through(`GET ${origin.url}`, `127.0.0.1:${origin.port}`)).toEqual({ status: 200, sent: 1 });
  });
});

describe('an upgrade request with a body', () => {
  it('is a 400 and nothing is sent: its body would go out as the bytes after the switch', async () => {
    const before = upstream.seen.length;
    const answer = await rawExchange(
      proxy.ports[0]!,
      `POST ${origin.url}/ws HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\nConnection: Upgrade\r\nUpgrade: h2c\r\nContent-Length: 5\r\n\r\nhello`,
    );
    expect(statusOf(answer)).toBe(400);
    expect(upstream.seen.length).toBe(before);
    // The client has closed: so does stickyport's side (it reads the body it refused, and the FIN).
    await eventually(() => proxy.app.listeners.connectionCount(proxy.ports[0]!) === 0, 'the refused upgrade connection is closed');
  });
});

describe('a Proxy-Authorization that is not a Basic login, where a login is required', () => {
  let locked: RunningProxy;
  beforeAll(async () => {
    locked = await startStickyport(
      { Upstream: { Url: upstreamUrl(upstream.port) }, Authentication: { Required: true, Username: 'client', Password: 'client-pass' } },
      { portCount: 1 },
    );
  });
  afterAll(async () => {
    await locked?.stop();
  });

  const b64 = (text: string): string => Buffer.from(text).toString('base64');
  const UNREADABLE = ['Bearer abc.def.ghi', 'Digest username="client"', 'Negotiate YIIB', 'Basic', 'Basic !!!', `Basic ${b64('no-colon')}`, 'client:client-pass'];

  it(`${UNREADABLE.length} headers, plain and CONNECT: each a 407 with the Basic challenge, nothing sent; the right login goes (the control)`, async () => {
    const wrong: string[] = [];
    const o = `127.0.0.1:${origin.port}`;
    for (const header of UNREADABLE) {
      for (const line of [`GET ${origin.url}`, `CONNECT ${o}`]) {
        const before = upstream.seen.length;
        const answer = await rawExchange(locked.ports[0]!, `${line} HTTP/1.1\r\nHost: ${o}\r\nProxy-Authorization: ${header}\r\nConnection: close\r\n\r\n`);
        const challenge = /\r\nproxy-authenticate: Basic realm=/i.test(answer);
        if (statusOf(answer) !== 407 || !challenge || upstream.seen.length !== before) {
          wrong.push(`${line.split(' ')[0]} with "${header}": ${statusOf(answer)}, challenge ${challenge}, ${upstream.seen.length - before} sent`);
        }
      }
    }
    expect(wrong).toEqual([]);
    const right = await rawExchange(locked.ports[0]!, `GET ${origin.url} HTTP/1.1\r\nHost: ${o}\r\nProxy-Authorization: Basic ${b64('client:client-pass')}\r\nConnection: close\r\n\r\n`);
    expect(statusOf(right)).toBe(200);
  });
});

// After a last answer (a refused upgrade, a request that does not parse, a refused CONNECT) the
// connection must go: a client that trickles bytes held it, and its connection slot, for good,
// because the cut was an idle timer that each byte restarted.
describe('a client that keeps sending after a last error answer', () => {
  let short: RunningProxy;
  beforeAll(async () => {
    short = await startStickyport({ Upstream: { Url: upstreamUrl(upstream.port) }, Listen: { IdleTimeout: '1s' } }, { portCount: 1 });
  });
  afterAll(async () => {
    await short?.stop();
  });

  const CASES: Array<[string, string, number]> = [
    ['a refused upgrade', `GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n`, 400],
    ['a request line that does not parse', 'GARBAGE GARBAGE\r\n\r\n', 400],
    ['a header name with a space', 'GET http://x.test/ HTTP/1.1\r\nBad Header: x\r\n\r\n', 400],
    ['a head over 16 KiB', `GET http://x.test/ HTTP/1.1\r\nX: ${'a'.repeat(20_000)}\r\n\r\n`, 431],
    ['a CONNECT to port 0', 'CONNECT 127.0.0.1:0 HTTP/1.1\r\nHost: 127.0.0.1:0\r\n\r\n', 400],
  ];

  it.each(CASES)('after %s: cut Listen.IdleTimeout after the answer, however often it trickles a byte', async (_, bytes, status) => {
    const port = short.ports[0]!;
    // Half-open kept: the client's side stays open after stickyport's FIN, and goes on writing.
    const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true }, () => socket.write(bytes));
    socket.on('error', () => undefined);
    let answer = '';
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')));
    // A byte every 200 ms, for at most 5 s: an idle timer would never fire.
    let sent = 0;
    const trickle = setInterval(() => {
      if (++sent > 25 || socket.destroyed) return clearInterval(trickle);
      socket.write('x');
    }, 200);
    const startedAt = performance.now();
    // 'close' itself, not events.once: the writes after the cut end in EPIPE, which once() would reject on.
    await new Promise((resolve) => socket.once('close', resolve));
    clearInterval(trickle);
    expect(statusOf(answer)).toBe(status);
    // Cut by stickyport (at IdleTimeout, 1 s), not by the end of the trickle (5 s).
    expect(performance.now() - startedAt).toBeLessThan(4_000);
    expect(sent).toBeLessThan(20);
    await eventually(() => short.app.listeners.connectionCount(port) === 0, 'the connection is gone');
  });
});
