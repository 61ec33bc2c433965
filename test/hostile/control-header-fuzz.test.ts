import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from '../helpers/client.js';
import type { Origin } from '../helpers/origin.js';
import type { RecordingUpstream } from '../helpers/recording-upstream.js';
import { startCountryStack, type Stack } from '../helpers/stack.js';
import type { RunningProxy } from '../helpers/stickyport.js';

// X-Stickyport-Session and X-Stickyport-Session-Params (src/proxy/control-headers.ts), fuzzed on
// plain requests and on CONNECT: duplicates in any case, empty, control and high bytes, huge
// values. Each request gets exactly one answer, of a status the README names, the headers never
// reach the upstream, and the port keeps serving.

let stack: Stack;
let origin: Origin;
let upstream: RecordingUpstream;
let proxy: RunningProxy;

beforeAll(async () => {
  stack = await startCountryStack(2);
  ({ origin, upstream, proxy } = stack);
});
afterAll(() => stack?.stop());

/** Sends `bytes`, reads until the proxy closes (or, for a tunnel, until its 200 head): the status lines seen. */
function exchange(port: number, bytes: Buffer, tunnel: boolean): Promise<{ statuses: number[]; raw: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(bytes));
    let raw = '';
    const finish = () => {
      clearTimeout(timer);
      const statuses = [...raw.matchAll(/(?:^|\r\n\r\n)HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));
      resolve({ statuses, raw });
    };
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no end within 10 s: ${JSON.stringify(raw.slice(0, 200))}`));
    }, 10_000);
    socket.on('data', (chunk: Buffer) => {
      raw += chunk.toString('latin1');
      if (tunnel && /^HTTP\/1\.1 200 [^\r]*\r\n\r\n/.test(raw)) {
        socket.destroy();
        finish();
      }
    });
    socket.on('error', () => undefined);
    socket.once('close', () => {
      if (!socket.destroyed || !tunnel || !/^HTTP\/1\.1 200 /.test(raw)) finish();
    });
  });
}

/** A small deterministic PRNG (mulberry32): the same cases every run. */
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PIECES = ['new', 'NEW', ' new ', 'new, new', '', 'country=de', 'country=', 'country=de&country=fr', 'pwd=x', 'city=x', 'country=%00', 'country=d-e', '&&&', '=', '%', '\t', '\x00', '\x01', '\x7f', '\xff', '\x80new', 'a'.repeat(300)];
const NAMES = ['X-Stickyport-Session', 'x-stickyport-session', 'X-STICKYPORT-SESSION', 'X-Stickyport-Session-Params', 'x-stickyport-session-params'];
const ALLOWED = new Set([200, 400, 403, 409, 431, 502]);

function header(random: () => number): string {
  const name = NAMES[Math.floor(random() * NAMES.length)]!;
  let value = '';
  const parts = 1 + Math.floor(random() * 3);
  for (let i = 0; i < parts; i++) value += PIECES[Math.floor(random() * PIECES.length)]!;
  if (random() < 0.05) value += 'x'.repeat(Math.floor(random() * 20_000));
  return `${name}: ${value}\r\n`;
}

describe('control header fuzz', () => {
  it('300 requests, plain and CONNECT: each gets one answer, none carries the headers upstream', async () => {
    const random = prng(15);
    const [port, other] = proxy.ports as [number, number];
    const from = upstream.seen.length;
    const tally = new Map<number, number>();
    for (let i = 0; i < 300; i++) {
      const connect = random() < 0.4;
      let headers = '';
      const count = 1 + Math.floor(random() * 3);
      for (let h = 0; h < count; h++) headers += header(random);
      const head = connect
        ? `CONNECT 127.0.0.1:${origin.port} HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\n${headers}\r\n`
        : `GET ${origin.url}/headers HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\nConnection: close\r\n${headers}\r\n`;
      const { statuses, raw } = await exchange(port, Buffer.from(head, 'latin1'), connect);
      expect(statuses.length, `case ${i}: ${JSON.stringify(head.slice(0, 300))} -> ${JSON.stringify(raw.slice(0, 300))}`).toBe(1);
      expect(ALLOWED.has(statuses[0]!), `case ${i}: status ${statuses[0]} for ${JSON.stringify(head.slice(0, 300))}`).toBe(true);
      tally.set(statuses[0]!, (tally.get(statuses[0]!) ?? 0) + 1);
    }
    // Both outcomes were reached: the fuzz is not all refusals.
    expect(tally.get(200) ?? 0).toBeGreaterThan(5);
    expect(tally.get(400) ?? 0).toBeGreaterThan(5);
    for (const seen of upstream.seen.slice(from)) {
      expect(Object.keys(seen.headers).filter((name) => name.startsWith('x-stickyport'))).toEqual([]);
    }
    expect((await request(other, `${origin.url}/`)).status).toBe(200);
    expect((await request(port, `${origin.url}/`)).status).toBe(200);
  });
});
