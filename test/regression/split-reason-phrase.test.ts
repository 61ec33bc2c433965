import { expect, it } from 'vitest';
import { behindHostileUpstream } from '../helpers/hostile-server.js';
import { rawExchange } from '../helpers/raw.js';

// undici kept only the last piece of a status line's reason phrase that arrived in two reads
// (`404 Not` then ` Found`: the client got `404  Found`; sent a byte at a time, `200 OK` became
// `200 `). The pieces are joined now (src/upstream/undici-parts.ts).

const stack = behindHostileUpstream();

const BODY = 'Content-Length: 2\r\nConnection: close\r\n\r\nhi';

it.each([
  ['split in two', ['HTTP/1.1 404 Not', ` Found\r\n${BODY}`], 'HTTP/1.1 404 Not Found'],
  ['a byte at a time', [...'HTTP/1.1 200 OK\r\n', BODY], 'HTTP/1.1 200 OK'],
  ['after an interim answer', ['HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 200', ` OK\r\n${BODY}`], 'HTTP/1.1 200 OK'],
  ['split in two inside a word', ['HTTP/1.1 418 I\'m a', ` teapot\r\n${BODY}`], "HTTP/1.1 418 I'm a teapot"],
])('a status line %s keeps its whole reason phrase', async (key, bytes, line) => {
  // A normal answer first (on a pooled upstream connection, the case may follow it): a reason
  // phrase must not carry over from an earlier answer either.
  expect((await rawExchange(stack.proxy.ports[0]!, `GET http://${stack.hostile.authority}/fine/${key.length} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`)).split('\r\n')[0]).toBe('HTTP/1.1 200 OK');
  stack.hostile.answer(key.replace(/\W+/g, '-'), { bytes, after: 'close', gapMs: 20 });
  const answer = await rawExchange(stack.proxy.ports[0]!, `GET http://${stack.hostile.authority}/case/${key.replace(/\W+/g, '-')} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
  expect(answer.split('\r\n')[0]).toBe(line);
});
