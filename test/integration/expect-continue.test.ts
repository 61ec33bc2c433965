import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basic } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { startStickyport, type RunningProxy } from '../helpers/stickyport.js';

// `Expect: 100-continue`: Node's server sent "100 Continue" as soon as it had the head, before
// stickyport had decided anything, so a client it then refused (a 407 for want of a login, a
// 403 for a denied host, a 400) had already started its body: curl sent 64-512 KB of a 20 MB
// upload before it read the 407. A refusal now goes out in place of the 100 (RFC 9110 10.1.1),
// and the 100 only once the request is forwarded.

const BODY = 300_000;
let origin: Origin;
let upstream: RecordingUpstream;
let proxy: RunningProxy;
let port: number;
const login = basic('scraper', 'pw');

beforeAll(async () => {
  origin = await startOrigin();
  upstream = await startRecordingUpstream();
  proxy = await startStickyport({
    Upstream: { Url: `http://customer-acme-country-{country}-session-{session}:secret@127.0.0.1:${upstream.port}`, Parameters: { country: '' } },
    Authentication: { Required: true, Username: 'scraper', Password: 'pw', ParseUsernameParameters: true },
    HostRules: [{ Pattern: 'denied.test', Action: 'Deny' }],
  });
  port = proxy.ports[0]!;
});

afterAll(async () => {
  await proxy?.stop();
  await upstream?.close();
  await origin?.close();
});

/** Sends `head` (no body) and collects what comes back until a final (non-1xx) answer's head is in, or `more` says stop. */
function untilFinal(socket: net.Socket, more?: (text: string) => boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const finalHead = () => /HTTP\/1\.1 [2-5]\d\d [^\r]*\r\n[\s\S]*?\r\n\r\n/.test(text) && !(more?.(text) ?? false);
    const onData = (chunk: Buffer) => {
      text += chunk.toString('latin1');
      if (finalHead()) done();
    };
    const done = () => {
      socket.off('data', onData);
      resolve(text);
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.once('close', done);
  });
}

function connect(): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => resolve(socket));
    socket.once('error', reject);
  });
}

const head = (target: string, authorization?: string) =>
  `POST ${target} HTTP/1.1\r\nHost: ${new URL(target).host}\r\n${authorization ? `Proxy-Authorization: ${authorization}\r\n` : ''}Content-Length: ${BODY}\r\nExpect: 100-continue\r\n\r\n`;

describe('Expect: 100-continue', () => {
  it.each([
    ['no login', () => head(`${origin.url}/count`), 407],
    ['a wrong password', () => head(`${origin.url}/count`, basic('scraper', 'nope')), 407],
    ['a denied host', () => head('http://denied.test/count', login), 403],
    ['a malformed login parameter', () => head(`${origin.url}/count`, basic('scraper-country-a!b', 'pw')), 400],
    ['a login not in canonical Base64', () => head(`${origin.url}/count`, `${login.replace(/=+$/, '')}`), 407],
  ] as const)('a request refused for %s gets its refusal in place of "100 Continue", and nothing goes upstream', async (_, written, status) => {
    const seen = upstream.seen.length;
    const socket = await connect();
    try {
      const answered = untilFinal(socket);
      socket.write(written());
      const text = await answered;
      expect(text).not.toContain('100 Continue');
      expect(text.startsWith(`HTTP/1.1 ${status} `), text.slice(0, 80)).toBe(true);
      expect(upstream.seen.length).toBe(seen);
    } finally {
      socket.destroy();
    }
  });

  it('a forwarded request gets "100 Continue", then its body reaches the origin whole', async () => {
    const socket = await connect();
    try {
      const continued = new Promise<string>((resolve) => {
        let text = '';
        const onData = (chunk: Buffer) => {
          text += chunk.toString('latin1');
          if (text.includes('\r\n\r\n')) {
            socket.off('data', onData);
            resolve(text);
          }
        };
        socket.on('data', onData);
      });
      socket.write(head(`${origin.url}/count`, login));
      expect(await continued).toBe('HTTP/1.1 100 Continue\r\n\r\n');
      const answered = untilFinal(socket, (text) => !text.endsWith(String(BODY)));
      socket.write(Buffer.alloc(BODY, 'x'));
      const text = await answered;
      expect(text).toMatch(/^HTTP\/1\.1 200 /);
      expect(text.endsWith(String(BODY))).toBe(true);
    } finally {
      socket.destroy();
    }
  });

  it('pipelined behind a request still being answered, the 100 waits for that answer', async () => {
    const socket = await connect();
    try {
      const answered = untilFinal(socket, (text) => !text.includes('100 Continue'));
      // The first request's answer is a 1 MB download; the second's 100 must come after all of it.
      socket.write(`GET ${origin.url}/bytes/1000000 HTTP/1.1\r\nHost: ${new URL(origin.url).host}\r\nProxy-Authorization: ${login}\r\n\r\n${head(`${origin.url}/count`, login)}`);
      const text = await answered;
      const continueAt = text.indexOf('HTTP/1.1 100 Continue');
      expect(text.indexOf('HTTP/1.1 200 ')).toBe(0);
      expect(continueAt).toBeGreaterThan(1_000_000);
    } finally {
      socket.destroy();
    }
  });
});
