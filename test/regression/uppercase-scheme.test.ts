import { afterAll, beforeAll, expect, it } from 'vitest';
import { rawExchange, statusOf } from '../helpers/raw.js';
import { startStack, type Stack } from '../helpers/stack.js';

// RFC 3986 3.1: a scheme is case-insensitive. `GET HTTP://host/ HTTP/1.1` was passed to undici
// as it was written, which refused it (UND_ERR_INVALID_ARG): a 502 UPSTREAM_UNREACHABLE blamed
// on the provider, and a warning against it, for a request nothing was wrong with.

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({}, { portCount: 1 });
});
afterAll(() => stack.stop());

it.each(['HTTP', 'Http', 'hTTp'])('GET %s://host/path goes out, as http://host/path', async (scheme) => {
  const authority = new URL(stack.origin.url).host;
  const before = stack.upstream.seen.length;
  const answer = await rawExchange(stack.proxy.ports[0]!, `GET ${scheme}://${authority}/?case=${scheme} HTTP/1.1\r\nHost: ${authority}\r\nConnection: close\r\n\r\n`);
  expect(statusOf(answer)).toBe(200);
  expect(answer).toMatch(/\r\n\r\nhello$/);
  const seen = stack.upstream.seen.slice(before);
  expect(seen.map((entry) => entry.target)).toEqual([`http://${authority}/?case=${scheme}`]);
});
