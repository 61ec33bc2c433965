import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_HEADER_FIELDS } from '../../src/proxy/header-fields.js';
import { request } from '../helpers/client.js';
import { rawExchange } from '../helpers/raw.js';
import { startHostileServer, type HostileServer } from '../helpers/hostile-server.js';
import { startStickyport, type RunningProxy } from '../helpers/stickyport.js';

// undici's 16 KiB head limit counts names and values only, as Node's does for requests: an
// upstream's answer (or its trailers) with 16 000 empty fields passed, cost 14 times an answer's
// CPU and reached the client as an 80 KB head; fields named by a Connection header were taken
// out one splice at a time (25 ms per such answer). An answer may carry as many fields as a
// request (MAX_HEADER_FIELDS): past that it is a 502, and such trailers are not relayed.

let hostile: HostileServer;
let proxy: RunningProxy;

beforeAll(async () => {
  hostile = await startHostileServer();
  proxy = await startStickyport({ Upstream: { Url: `http://customer-acme-session-{session}:secret@${hostile.authority}` } }, { portCount: 1 });
});
afterAll(async () => {
  await proxy?.stop();
  await hostile?.close();
});

const fields = (count: number, name = (i: number) => `x-f${i}`): string => Array.from({ length: count }, (_, i) => `${name(i)}: v\r\n`).join('');

describe('header fields of an upstream answer', () => {
  it(`${MAX_HEADER_FIELDS} fields: relayed, every one`, async () => {
    hostile.answer('few', { bytes: [`HTTP/1.1 200 OK\r\nContent-Length: 2\r\n${fields(MAX_HEADER_FIELDS - 1)}\r\nok`], after: 'close' });
    const answer = await request(proxy.ports[0]!, 'http://origin.example/case/few');
    expect(answer.status).toBe(200);
    expect(Object.keys(answer.headers).filter((name) => name.startsWith('x-f'))).toHaveLength(MAX_HEADER_FIELDS - 1);
  });

  it.each([
    ['one too many', fields(MAX_HEADER_FIELDS)],
    ['16 000 empty ones', 'a:\r\n'.repeat(16_000)],
  ])('%s: 502 UPSTREAM_PROTOCOL', async (_name, extra) => {
    hostile.answer('many', { bytes: [`HTTP/1.1 200 OK\r\nContent-Length: 2\r\n${extra}\r\nok`], after: 'close' });
    const answer = await request(proxy.ports[0]!, 'http://origin.example/case/many');
    expect(answer.status).toBe(502);
    expect(answer.headers['x-stickyport-error']).toBe('UPSTREAM_PROTOCOL');
  });

  it('trailers past the limit are not relayed; the answer is', async () => {
    hostile.answer('trailers', {
      bytes: [`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: x-t\r\n\r\n2\r\nok\r\n0\r\n${fields(MAX_HEADER_FIELDS + 1, (i) => `x-t${i}`)}\r\n`],
      after: 'close',
    });
    const raw = await rawExchange(proxy.ports[0]!, 'GET http://origin.example/case/trailers HTTP/1.1\r\nHost: origin.example\r\nTE: trailers\r\nConnection: close\r\n\r\n');
    expect(raw).toMatch(/^HTTP\/1\.1 200/);
    expect(raw).toMatch(/\r\n2\r\nok\r\n0\r\n/);
    expect(raw).not.toMatch(/x-t1:/i);
  });

  it('fields named by Connection are dropped, the rest kept in order', async () => {
    const named = Array.from({ length: 100 }, (_, i) => `x-drop: ${i}\r\nx-keep${i}: ${i}\r\n`).join('');
    hostile.answer('named', { bytes: [`HTTP/1.1 200 OK\r\nConnection: x-drop\r\nContent-Length: 2\r\n${named}\r\nok`], after: 'close' });
    const raw = await rawExchange(proxy.ports[0]!, 'GET http://origin.example/case/named HTTP/1.1\r\nHost: origin.example\r\nConnection: close\r\n\r\n');
    expect(raw).not.toMatch(/x-drop/i);
    const kept = [...raw.matchAll(/x-keep(\d+): (\d+)/gi)].map((match) => `${match[1]}=${match[2]}`);
    expect(kept).toEqual(Array.from({ length: 100 }, (_, i) => `${i}=${i}`));
  });
});
