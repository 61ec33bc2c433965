import { afterAll, beforeAll, expect, it } from 'vitest';
import { MAX_HEADER_FIELDS } from '../../src/proxy/header-fields.js';
import { rawExchange, statusOf } from '../helpers/raw.js';
import { socks5Connect } from '../helpers/socks-client.js';
import { startStack, type Stack } from '../helpers/stack.js';

// The upstream login went after the client's header fields: a request carrying 2 500 of them
// (12 KB, under the 16 KiB head limit) reached a provider that keeps the first 2 000 (Node's
// default) without its Proxy-Authorization, and was answered 407: a 502 UPSTREAM_AUTH for a
// session whose login was right. The login now goes first.
// Then (adversarial pass): 15 000 empty fields fit the 16 KiB head limit and cost 0.7 MB of
// heap each, parsed; 90 connections pipelining such requests, reading nothing, ran the process
// out of memory. A request may carry at most MAX_HEADER_FIELDS fields: one more is a 431 for the
// whole request, on every kind of request, and nothing goes upstream.

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack?.stop());

const fields = (count: number, line = (i: number) => `x${i % 10}: ${i % 10}\r\n`): string => Array.from({ length: count }, (_, i) => line(i)).join('');

it(`a request with ${MAX_HEADER_FIELDS} header fields, the Host among them, goes out with the upstream login`, async () => {
  const port = stack.proxy.ports[0]!;
  const before = stack.upstream.seen.length;
  const answer = await rawExchange(port, `GET ${stack.origin.url}/many HTTP/1.1\r\nHost: 127.0.0.1:${stack.origin.port}\r\n${fields(MAX_HEADER_FIELDS - 2)}Connection: close\r\n\r\n`);
  expect(statusOf(answer)).toBe(200);
  expect(stack.upstream.seen.slice(before).map((entry) => entry.session)).toEqual([stack.proxy.app.ports.get(port).session?.id]);
});

const heads: Array<[string, (extra: string) => string]> = [
  ['a plain request', (extra) => `GET ${stack.origin.url}/over HTTP/1.1\r\nHost: 127.0.0.1:${stack.origin.port}\r\n${extra}\r\n`],
  ['a session API call', (extra) => `GET http://portmapper/session/new HTTP/1.1\r\nHost: portmapper\r\n${extra}\r\n`],
  ['a CONNECT', (extra) => `CONNECT 127.0.0.1:${stack.origin.port} HTTP/1.1\r\nHost: 127.0.0.1:${stack.origin.port}\r\n${extra}\r\n`],
  ['an upgrade', (extra) => `GET ${stack.origin.url}/ws HTTP/1.1\r\nHost: 127.0.0.1:${stack.origin.port}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n${extra}\r\n`],
];

for (const [kind, head] of heads) {
  for (const [what, extra] of [
    [`${MAX_HEADER_FIELDS} fields besides its own`, fields(MAX_HEADER_FIELDS)],
    ['15 000 empty fields', fields(15_000, () => 'A:\r\n')],
  ] as const) {
    it(`${kind} with ${what}: 431 and the connection closed, nothing sent upstream, the session unchanged`, async () => {
      const port = stack.proxy.ports[1]!;
      const session = stack.proxy.app.ports.get(port).session?.id;
      const before = stack.upstream.seen.length;
      // A request pipelined behind it is never read as one.
      const answer = await rawExchange(port, `${head(extra)}GET ${stack.origin.url}/behind HTTP/1.1\r\nHost: 127.0.0.1:${stack.origin.port}\r\n\r\n`);
      expect(statusOf(answer)).toBe(431);
      expect(answer).toMatch(/too many header fields/);
      expect(answer.match(/HTTP\/1\.1 /g)).toHaveLength(1);
      expect(stack.upstream.seen.length).toBe(before);
      expect(stack.proxy.app.ports.get(port).session?.id).toBe(session);
    });
  }
}

it(`the session API inside a SOCKS5 connection: a call with more than ${MAX_HEADER_FIELDS} fields is a 431, the session unchanged`, async () => {
  const port = stack.proxy.ports[1]!;
  const session = stack.proxy.app.ports.get(port).session?.id;
  const { code, client } = await socks5Connect(port, { host: 'portmapper', port: 80 });
  try {
    expect(code).toBe(0);
    client.send(`GET /session/new HTTP/1.1\r\nHost: portmapper\r\n${fields(MAX_HEADER_FIELDS)}\r\n`);
    const answer = await client.readAnswer();
    expect(answer.status).toBe(431);
    expect(answer.body).toMatch(/too many header fields/);
    await client.untilClosed();
    expect(stack.proxy.app.ports.get(port).session?.id).toBe(session);
  } finally {
    client.destroy();
  }
});
