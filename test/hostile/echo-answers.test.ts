import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { startStickyport, upstreamUrl, type RunningProxy } from '../helpers/stickyport.js';

// Identity.EchoUrl answered by a hostile server, through an authenticating upstream: whatever
// comes back, /session/?ip=1 gets one answer (an exit, or 502 identity_unavailable), within
// Identity.Timeout, the process lives, the other port keeps serving, and no log line or answer
// carries the upstream password.

type After = 'close' | 'reset' | 'hold';
interface EchoCase {
  readonly bytes: Buffer;
  readonly after: After;
  /** The IP expected in the answer; undefined = a 502 identity_unavailable. */
  readonly ip?: string;
}

const head = (extra: string, body: Buffer | string, status = '200 OK') =>
  Buffer.concat([Buffer.from(`HTTP/1.1 ${status}\r\n${extra}Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n`, 'latin1'), Buffer.from(body as string, 'latin1')]);

const CASES: Record<string, EchoCase> = {
  'plain ip': { bytes: head('', '203.0.113.9\n'), after: 'close', ip: '203.0.113.9' },
  'huge content-length': { bytes: Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: 50000000\r\n\r\n${'1'.repeat(64 * 1024)}`), after: 'hold' },
  'never-ending chunked': { bytes: Buffer.from(`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${'4000\r\n'.concat('9'.repeat(0x4000), '\r\n').repeat(8)}`), after: 'hold' },
  'trickle, head only': { bytes: Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n203.'), after: 'hold' },
  'nothing at all': { bytes: Buffer.alloc(0), after: 'hold' },
  'malformed json': { bytes: head('Content-Type: application/json\r\n', '{"ip": "203.0.113.9"'), after: 'close' },
  'json ip array': { bytes: head('', '{"ip": ["203.0.113.9"]}'), after: 'close' },
  'json proto': { bytes: head('', '{"__proto__": {"ip": "203.0.113.9"}}'), after: 'close' },
  'not an ip': { bytes: head('', 'hello there'), after: 'close' },
  'ip with nul': { bytes: head('', '203.0.113.9\0'), after: 'close' },
  'json ip with nul': { bytes: head('', '{"ip":"203.0.113.9\\u0000"}'), after: 'close' },
  'escape codes': { bytes: head('', '\x1b[31m203.0.113.9\x1b[0m'), after: 'close' },
  'mapped ipv6': { bytes: head('', '::ffff:203.0.113.9'), after: 'close', ip: '::ffff:203.0.113.9' },
  'bracketed ipv6': { bytes: head('', '[2001:db8::7]'), after: 'close', ip: '2001:db8::7' },
  'ipv6 huge zone': { bytes: head('', `fe80::1%${'z'.repeat(8000)}`), after: 'close' },
  'wrong content-type': { bytes: head('Content-Type: image/png\r\n', '203.0.113.9'), after: 'close', ip: '203.0.113.9' },
  'gzip body unasked': { bytes: head('Content-Encoding: gzip\r\n', gzipSync('203.0.113.9').toString('latin1')), after: 'close' },
  'redirect': { bytes: head('Location: http://127.0.0.1:1/\r\n', ''), after: 'close' },
  'status 500 with ip': { bytes: head('', '203.0.113.9', '500 Oops'), after: 'close' },
  'not http': { bytes: Buffer.from('SSH-2.0-OpenSSH\r\n\r\n'), after: 'close' },
  'reset after head': { bytes: Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n203'), after: 'reset' },
  'short body then close': { bytes: Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n203.0.113.9'), after: 'close' },
  // The reason phrase is not relayed anywhere: the body is what counts.
  'bad reason phrase': { bytes: Buffer.from('HTTP/1.1 200 \x01\x02\r\nContent-Length: 11\r\n\r\n203.0.113.9'), after: 'close', ip: '203.0.113.9' },
  '101 unasked': { bytes: Buffer.from('HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n203.0.113.9'), after: 'close' },
  'country injection': { bytes: head('', '{"ip":"203.0.113.9","country":"d\\ne","country_code":"de"}'), after: 'close', ip: '203.0.113.9' },
};

let current: EchoCase = CASES['plain ip']!;
const echoSockets = new Set<net.Socket>();
let echo: net.Server;
let echoPort = 0;
let upstream: RecordingUpstream;
let origin: Origin;
let proxy: RunningProxy;

beforeAll(async () => {
  echo = net.createServer((socket) => {
    echoSockets.add(socket);
    socket.once('close', () => echoSockets.delete(socket));
    socket.on('error', () => socket.destroy());
    const answer = current;
    socket.once('data', () => {
      if (answer.bytes.length > 0) socket.write(answer.bytes);
      if (answer.after === 'close') socket.end();
      else if (answer.after === 'reset') socket.write(Buffer.alloc(0), () => socket.resetAndDestroy());
    });
  });
  echo.listen(0, '127.0.0.1');
  await once(echo, 'listening');
  echoPort = (echo.address() as AddressInfo).port;
  upstream = await startRecordingUpstream('secret-PaSsWoRd');
  origin = await startOrigin();
  proxy = await startStickyport(
    {
      Upstream: { Url: upstreamUrl(upstream.port, 'secret-PaSsWoRd') },
      Identity: { EchoUrl: `http://127.0.0.1:${echoPort}/ip`, Timeout: '1s' },
    },
    { portCount: 2 },
  );
});

afterAll(async () => {
  await proxy?.stop();
  for (const socket of echoSockets) socket.destroy();
  await new Promise<void>((resolve) => echo.close(() => resolve()));
  await upstream?.close();
  await origin?.close();
});

describe('hostile echo answers', () => {
  it.each(Object.keys(CASES))('%s: one answer, in time, nothing leaked, the other port serves', async (name) => {
    current = CASES[name]!;
    const [port, other] = proxy.ports as [number, number];
    // A new session each time, so no exit is remembered from the case before.
    expect((await request(port, 'http://portmapper/session/new')).status).toBe(200);
    const startedAt = Date.now();
    // Several at once: they join one check and each still gets its own answer.
    const answers = await Promise.all(Array.from({ length: 4 }, () => request(port, 'http://portmapper/session/?ip=1')));
    expect(Date.now() - startedAt).toBeLessThan(5_000);
    for (const answer of answers) {
      expect(answer.body).not.toContain('PaSsWoRd');
      if (current.ip) {
        expect(answer.status).toBe(200);
        expect((JSON.parse(answer.body) as { exit: { ip: string } }).exit.ip).toBe(current.ip);
      } else {
        expect(answer.status).toBe(502);
        expect(JSON.parse(answer.body)).toMatchObject({ error: 'identity_unavailable' });
        // The reason quotes little of what came back.
        expect(answer.body.length).toBeLessThan(1024);
      }
    }
    expect((await request(other, `${origin.url}/`)).status).toBe(200);
    expect(proxy.logs.join('\n')).not.toContain('PaSsWoRd');
    expect(proxy.logs.every((line) => line.length < 4096)).toBe(true);
  });
});
