import { once } from 'node:events';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectStatus } from '../helpers/client.js';
import { startHostileServer, type HostileAfter, type HostileServer } from '../helpers/hostile-server.js';
import { startStickyport, type RunningProxy } from '../helpers/stickyport.js';
import { describeAnswer, headerOf, WireConnection, type WireAnswer } from './wire.js';

// What the client is told about a hostile upstream, beyond "no crash, no hang" (answer-class.ts):
// which error code, whether the request went out twice, and whose headers reach it. Each case
// below failed before its fix: parser errors were UPSTREAM_UNREACHABLE, a GET was resent after
// answer bytes had come, 1xx answers every 100 ms held a client forever, and an upstream's
// X-Stickyport-* headers passed for stickyport's own.

const RESPONSE_TIMEOUT_MS = 800;
const CONNECT_TIMEOUT_MS = 1_500;
const DEADLINE_MS = 4_000;
const BODY = 'hostile-ok';
const FINE = `HTTP/1.1 200 OK\r\nContent-Length: ${BODY.length}\r\n\r\n${BODY}`;

let hostile: HostileServer;
let proxy: RunningProxy;
let caseNumber = 0;

beforeAll(async () => {
  hostile = await startHostileServer();
  proxy = await startStickyport(
    {
      Upstream: {
        Url: `http://customer-acme-session-{session}:secret@${hostile.authority}`,
        ResponseTimeout: `${RESPONSE_TIMEOUT_MS}ms`,
        ConnectTimeout: `${CONNECT_TIMEOUT_MS}ms`,
      },
      SessionAPI: { ExposeSessionHeader: true },
    },
    { portCount: 2 },
  );
});

afterAll(async () => {
  await proxy?.stop();
  await hostile?.close();
});

/** A GET through the first port for a case answered with `bytes`; resolves the answer and how often the case's request reached the upstream. */
async function getCase(bytes: string | Buffer, after: HostileAfter = 'close'): Promise<{ answer: WireAnswer; sent: number }> {
  const key = `verdict-${caseNumber++}`;
  hostile.answer(key, { bytes: [bytes], after });
  const url = `http://${hostile.authority}/case/${key}`;
  const client = await WireConnection.open(proxy.ports[0]!);
  try {
    const answer = await client.exchange(`GET ${url} HTTP/1.1\r\nHost: ${hostile.authority}\r\n\r\n`, 'GET', DEADLINE_MS);
    return { answer, sent: hostile.heads.filter((head) => head.startsWith(`GET ${url} `)).length };
  } finally {
    client.destroy();
  }
}

const errorOf = (answer: WireAnswer): string | undefined => headerOf(answer, 'x-stickyport-error');

describe('answers that are not HTTP', () => {
  const NOT_HTTP: Array<[string, string | Buffer]> = [
    ['a status code with a letter', `HTTP/1.1 2x0 OK\r\nContent-Length: 10\r\n\r\n${BODY}`],
    ['the HTTP/2 preface', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'],
    ['a header name with a space', `HTTP/1.1 200 OK\r\nBad Name: x\r\nContent-Length: 10\r\n\r\n${BODY}`],
    ['a NUL in a header value', `HTTP/1.1 200 OK\r\nX-A: a\0b\r\nContent-Length: 10\r\n\r\n${BODY}`],
    ['an obs-fold line', `HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 10\r\n\r\n${BODY}`],
    ['LF-only line ends', `HTTP/1.1 200 OK\nContent-Length: 10\n\n${BODY}`],
    ['an SSH banner', 'SSH-2.0-OpenSSH_9.2\r\n'],
    ['a 100 Continue nobody asked for', `HTTP/1.1 100 Continue\r\n\r\n${FINE}`],
    ['a 101 on a request that did not ask to switch', 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n'],
  ];

  it(`${NOT_HTTP.length} cases: each a 502 UPSTREAM_PROTOCOL, sent once`, async () => {
    const wrong: string[] = [];
    for (const [name, bytes] of NOT_HTTP) {
      const { answer, sent } = await getCase(bytes);
      const verdict = answer.kind === 'answer' ? `${answer.status} ${errorOf(answer)}` : describeAnswer(answer);
      if (verdict !== '502 UPSTREAM_PROTOCOL' || sent !== 1) wrong.push(`${name}: ${verdict}, sent ${sent} times`);
    }
    expect(wrong).toEqual([]);
  });
});

describe('a GET is sent again only when no answer byte came back (README: retried once)', () => {
  const head = `HTTP/1.1 200 OK\r\nContent-Length: ${BODY.length}\r\n\r\n`;

  it('broken after 1, 5, 9, 17 bytes of the head and before its last byte: sent once, 502 UPSTREAM_RESET', async () => {
    const wrong: string[] = [];
    for (const cut of [1, 5, 9, 17, head.length - 1]) {
      for (const after of ['close', 'reset'] as const) {
        const { answer, sent } = await getCase(head.slice(0, cut), after);
        const verdict = answer.kind === 'answer' ? `${answer.status} ${errorOf(answer)}` : describeAnswer(answer);
        if (sent !== 1 || verdict !== '502 UPSTREAM_RESET') wrong.push(`${cut} bytes then ${after}: ${verdict}, sent ${sent} times`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('broken after an interim answer: sent once', async () => {
    const { answer, sent } = await getCase('HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n', 'close');
    expect(sent).toBe(1);
    expect(answer.kind === 'answer' && answer.status).toBe(502);
  });

  it('broken before any byte: sent a second time (the control: the count can be 2)', async () => {
    const { sent } = await getCase('', 'close');
    expect(sent).toBe(2);
  });
});

describe('interim answers do not hold the client', () => {
  let flood: net.Server;
  let floodPort = 0;
  let floodRequests = 0;
  let floodProxy: RunningProxy;
  const floodSockets = new Set<net.Socket>();

  beforeAll(async () => {
    // Answers every request with a 102 every 100 ms, never a final answer (at most 60 of them).
    // A POST to /upload instead gets a 103 at once and its 200 once the whole body is in.
    flood = net.createServer((socket) => {
      floodSockets.add(socket);
      let timer: NodeJS.Timeout | undefined;
      let received = '';
      socket.on('error', () => undefined);
      socket.on('close', () => clearInterval(timer));
      socket.on('data', (chunk: Buffer) => {
        received += chunk.toString('latin1');
        if (received.startsWith('POST ')) {
          const end = received.indexOf('\r\n\r\n');
          if (end < 0) return;
          if (!received.includes('103 sent')) {
            socket.write('HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n');
            received += '103 sent';
          }
          const length = Number(/content-length: (\d+)/i.exec(received)?.[1]);
          if (received.length - end - 4 - '103 sent'.length >= length) socket.end('HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nuploaded');
          return;
        }
        if (timer || !chunk.includes('\r\n\r\n')) return;
        floodRequests++;
        let sent = 0;
        timer = setInterval(() => {
          if (++sent > 60) return clearInterval(timer);
          socket.write('HTTP/1.1 102 Processing\r\n\r\n');
        }, 100);
      });
    });
    flood.listen(0, '127.0.0.1');
    await once(flood, 'listening');
    floodPort = (flood.address() as AddressInfo).port;
    floodProxy = await startStickyport(
      { Upstream: { Url: `http://customer-acme-session-{session}:secret@127.0.0.1:${floodPort}`, ResponseTimeout: `${RESPONSE_TIMEOUT_MS}ms` } },
      { portCount: 1 },
    );
  });

  afterAll(async () => {
    await floodProxy?.stop();
    for (const socket of floodSockets) socket.destroy();
    await new Promise((resolve) => flood?.close(resolve));
  });

  it('a 102 every 100 ms: 504 UPSTREAM_TIMEOUT once Upstream.ResponseTimeout has passed, sent once', async () => {
    const client = await WireConnection.open(floodProxy.ports[0]!);
    const startedAt = performance.now();
    const answer = await client.exchange('GET http://slow.example/ HTTP/1.1\r\nHost: slow.example\r\n\r\n', 'GET', 5_000);
    const tookMs = performance.now() - startedAt;
    client.destroy();
    expect(answer.kind === 'answer' ? `${answer.status} ${errorOf(answer)}` : describeAnswer(answer)).toBe('504 UPSTREAM_TIMEOUT');
    // The final answer was due within ResponseTimeout of the first 102 (100 ms in).
    expect(tookMs).toBeGreaterThanOrEqual(RESPONSE_TIMEOUT_MS);
    expect(tookMs).toBeLessThan(RESPONSE_TIMEOUT_MS + 1_500);
    expect(floodRequests).toBe(1);
  });

  it('an upload that takes longer than ResponseTimeout, with a 103 at its start: not cut, the 200 arrives', async () => {
    const CHUNKS = 6;
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const request = http.request(
        { host: '127.0.0.1', port: floodProxy.ports[0]!, method: 'POST', path: 'http://upload.example/upload', headers: { host: 'upload.example', 'content-length': CHUNKS * 100 }, agent: false },
        (response) => {
          let body = '';
          response.setEncoding('latin1').on('data', (chunk: string) => (body += chunk));
          response.on('end', () => resolve({ status: response.statusCode!, body }));
        },
      );
      request.on('error', reject);
      // A slow uploader: 100 bytes every 250 ms, twice ResponseTimeout in all.
      let sent = 0;
      const pace = setInterval(() => {
        request.write('u'.repeat(100));
        if (++sent === CHUNKS) {
          clearInterval(pace);
          request.end();
        }
      }, 250);
    });
    expect(answer).toEqual({ status: 200, body: 'uploaded' });
  });
});

describe("an upstream's X-Stickyport-* headers never reach the client", () => {
  it('forged X-Stickyport-Session-Id and X-Stickyport-Error are dropped; the real session header stays, once', async () => {
    const forged =
      'HTTP/1.1 502 Bad Gateway\r\nX-Stickyport-Session-Id: SOMEONEELSE\r\nX-Stickyport-Error: UPSTREAM_REFUSED\r\n' +
      `x-stickyport-anything: x\r\nContent-Length: ${BODY.length}\r\n\r\n${BODY}`;
    const { answer } = await getCase(forged, 'keep-alive');
    expect(answer.kind).toBe('answer');
    if (answer.kind !== 'answer') return;
    const own = answer.headers.filter(([name]) => name.startsWith('x-stickyport-'));
    const session = proxy.app.ports.get(proxy.ports[0]!).session?.id;
    expect(session).toBeDefined();
    // The upstream's own 502 is relayed as its answer, with only stickyport's session header.
    expect(answer.status).toBe(502);
    expect(own).toEqual([['x-stickyport-session-id', session]]);
  });
});

describe("an upstream's X-Stickyport-* trailers, and fields no trailer may carry, never reach the client", () => {
  it('forged and framing trailers are dropped, the others relayed', async () => {
    const key = `verdict-${caseNumber++}`;
    hostile.answer(key, {
      bytes: [`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n${BODY.length.toString(16)}\r\n${BODY}\r\n0\r\nX-Stickyport-Error: UPSTREAM_TIMEOUT\r\nX-Stickyport-Session-Id: forged\r\nTransfer-Encoding: gzip\r\nContent-Type: text/evil\r\nConnection: close\r\nSet-Cookie: sid=evil\r\nLocation: http://evil.test/\r\nWWW-Authenticate: Basic\r\nCache-Control: no-store\r\nX-Checksum: abc\r\n\r\n`],
      after: 'keep-alive',
    });
    const trailers = await new Promise<http.IncomingHttpHeaders>((resolve, reject) => {
      const url = `http://${hostile.authority}/case/${key}`;
      http
        .get({ host: '127.0.0.1', port: proxy.ports[0]!, path: url, headers: { host: hostile.authority, te: 'trailers' }, agent: false }, (response) => {
          response.resume();
          response.on('end', () => resolve(response.trailers));
        })
        .on('error', reject);
    });
    expect(trailers).toEqual({ 'x-checksum': 'abc' });
  });
});

describe('answers that stall', () => {
  it('half a head, then silence: 504 UPSTREAM_TIMEOUT that says no complete head came (not "sent nothing")', async () => {
    // On the second port: its session's pool has carried no plain request whose answer could linger.
    const key = `verdict-${caseNumber++}`;
    hostile.answer(key, { bytes: ['HTTP/1.1 200 OK\r\nContent-Le'], after: 'hold' });
    const client = await WireConnection.open(proxy.ports[1]!);
    const url = `http://${hostile.authority}/case/${key}`;
    const answer = await client.exchange(`GET ${url} HTTP/1.1\r\nHost: ${hostile.authority}\r\n\r\n`, 'GET', DEADLINE_MS);
    client.destroy();
    expect(answer.kind === 'answer' ? `${answer.status} ${errorOf(answer)}` : describeAnswer(answer)).toBe('504 UPSTREAM_TIMEOUT');
    expect(answer.kind === 'answer' ? answer.body.toString() : '').toMatch(/sent no complete answer head within Upstream\.ResponseTimeout/);
  });
});

describe('CONNECT answers', () => {
  /** A CONNECT through the first port to a case target; the answer and how long it took. */
  async function connectCase(bytes: string, after: HostileAfter): Promise<{ answer: WireAnswer; tookMs: number }> {
    const key = `verdict-${caseNumber++}`;
    hostile.answer(key, { bytes: [bytes], after });
    const client = await WireConnection.open(proxy.ports[1]!);
    const startedAt = performance.now();
    try {
      const target = `${key}.case:443`;
      const answer = await client.exchange(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`, 'CONNECT', DEADLINE_MS);
      return { answer, tookMs: performance.now() - startedAt };
    } finally {
      client.destroy();
    }
  }

  it('a 200 whose lines end in LF alone: 502 UPSTREAM_STATUS at once, not a 504 after ConnectTimeout', async () => {
    const { answer, tookMs } = await connectCase('HTTP/1.1 200 OK\n\n', 'hold');
    expect(answer.kind === 'answer' ? `${answer.status} ${errorOf(answer)}` : describeAnswer(answer)).toBe('502 UPSTREAM_STATUS');
    expect(tookMs).toBeLessThan(CONNECT_TIMEOUT_MS);
  });

  it('heads with a bare LF anywhere (LF CRLF endings, a 407 so ended): 502 UPSTREAM_STATUS at once', async () => {
    const wrong: string[] = [];
    for (const head of ['HTTP/1.1 200 OK\n\r\n', 'HTTP/1.1 200 OK\r\nProxy-Agent: x\n\r\n', 'HTTP/1.1 407 No\r\nProxy-Authenticate: Basic\n\r\n', 'HTTP/1.1 200 OK\nVia: x\r\n\r\n']) {
      const { answer, tookMs } = await connectCase(head, 'hold');
      const verdict = answer.kind === 'answer' ? `${answer.status} ${errorOf(answer)}` : describeAnswer(answer);
      if (verdict !== '502 UPSTREAM_STATUS' || tookMs >= CONNECT_TIMEOUT_MS) wrong.push(`${JSON.stringify(head)}: ${verdict} after ${tookMs.toFixed(0)} ms`);
    }
    expect(wrong).toEqual([]);
  });

  it('a greeting in another protocol, or a head ending in CR alone, left waiting: 502 UPSTREAM_STATUS at once', async () => {
    const wrong: string[] = [];
    const GREETINGS = ['220 smtp.example ESMTP ready\r\n', '-ERR unknown command\r\n', '\x16\x03\x01\x00\x05hello', 'SSH-2.0-OpenSSH_9.2\r\n', 'HTTP/2 200\r\n',
      'HTTP/1.1 2000 OK\r\n', 'HTTP/1.1 200 OK\r\r', 'HTTP/1.1 200 OK\rX: y\r\n\r\n', 'http/1.1 200 OK\r\n', 'HTTP/1.1 20x OK\r\n'];
    for (const greeting of GREETINGS) {
      const { answer, tookMs } = await connectCase(greeting, 'hold');
      const verdict = answer.kind === 'answer' ? `${answer.status} ${errorOf(answer)}` : describeAnswer(answer);
      if (verdict !== '502 UPSTREAM_STATUS' || tookMs >= CONNECT_TIMEOUT_MS) wrong.push(`${JSON.stringify(greeting)}: ${verdict} after ${tookMs.toFixed(0)} ms`);
    }
    expect(wrong).toEqual([]);
    // The control: a good answer, in two writes that part it mid status line, opens the tunnel.
    const key = `verdict-${caseNumber++}`;
    hostile.answer(key, { bytes: ['HTTP/1.1 2', '00 Connection established\r\n\r\n'], after: 'hold' });
    expect(await connectStatus(proxy.ports[1]!, `${key}.case:443`)).toBe(200);
  });

  it('a 200 head over 16 KiB that arrives whole in one write: 502', async () => {
    const { answer } = await connectCase(`HTTP/1.1 200 OK\r\nX-Pad: ${'p'.repeat(20 * 1024)}\r\n\r\n`, 'hold');
    expect(answer.kind === 'answer' ? `${answer.status} ${errorOf(answer)}` : describeAnswer(answer)).toBe('502 UPSTREAM_STATUS');
  });

  it('connected but no answer to the CONNECT: 504 that says so (not "no connection")', async () => {
    const { answer } = await connectCase('', 'hold');
    expect(answer.kind === 'answer' ? `${answer.status} ${errorOf(answer)}` : describeAnswer(answer)).toBe('504 UPSTREAM_TIMEOUT');
    expect(answer.kind === 'answer' ? answer.body.toString() : '').toMatch(/did not answer the CONNECT within/);
  });
});
