import { afterAll, beforeAll, expect, it } from 'vitest';
import { rawExchange, statusOf } from '../helpers/raw.js';
import { startStack, type Stack } from '../helpers/stack.js';

// The upstream login went after the client's header fields: a request carrying 2 500 of them
// (12 KB, under the 16 KiB head limit) reached a provider that keeps the first 2 000 (Node's
// default) without its Proxy-Authorization, and was answered 407: a 502 UPSTREAM_AUTH for a
// session whose login was right. The login now goes first.

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack?.stop());

it('a request with 2 500 header fields still carries the upstream login', async () => {
  const port = stack.proxy.ports[0]!;
  const fields = Array.from({ length: 2_500 }, (_, i) => `x${i % 10}: ${i % 10}\r\n`).join('');
  const answer = await rawExchange(port, `GET ${stack.origin.url}/ HTTP/1.1\r\nHost: 127.0.0.1:${stack.origin.port}\r\n${fields}Connection: close\r\n\r\n`);
  expect(statusOf(answer)).toBe(200);
});
