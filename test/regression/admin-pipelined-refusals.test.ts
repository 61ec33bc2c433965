import net from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startWithAdmin, type AdminClient } from '../helpers/admin.js';
import type { RunningProxy } from '../helpers/stickyport.js';

// Requests pipelined to the admin server before a CONNECT, bytes that do not parse, or more after
// a `Connection: close` lost their answers: the CONNECT's 400 was written at once, and Node's own
// refusal of the broken bytes cut the connection (the review: GET,GET,GET(close),GET got one
// answer). Every answer owed now goes out, in order, then the refusal or the close, as on the
// proxy ports.

let proxy: RunningProxy & { admin: AdminClient };
beforeAll(async () => {
  proxy = await startWithAdmin({}, { portCount: 1 });
});
afterAll(() => proxy?.stop());

/** Writes `bytes` in one go and resolves with the statuses answered, once the server closed. */
function pipeline(bytes: string): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port: proxy.admin.port });
    let text = '';
    socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
    socket.on('error', reject);
    socket.on('close', () => resolve([...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((match) => Number(match[1]))));
    socket.on('connect', () => socket.end(bytes));
  });
}

const get = (path: string, extra = ''): string => `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${extra}\r\n`;

it.each([
  ['two GETs, then a CONNECT', `${get('/healthz')}${get('/api/summary')}CONNECT 127.0.0.1:1 HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n`, [200, 200, 400]],
  ['two GETs, then bytes that are no request', `${get('/healthz')}${get('/api/summary')}\u0001\u0002 nonsense\r\n\r\n`, [200, 200, 400]],
  ['three GETs, the third with Connection: close, then a fourth', `${get('/healthz')}${get('/api/summary')}${get('/healthz', 'Connection: close\r\n')}${get('/healthz')}`, [200, 200, 200]],
  ['a GET, then a head too large', `${get('/healthz')}GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'b'.repeat(20_000)}\r\n\r\n`, [200, 431]],
])('%s: every answer owed, in order, then the end', async (_name, bytes, statuses) => {
  expect(await pipeline(bytes)).toEqual(statuses);
});
