import { expect, it } from 'vitest';
import { behindHostileUpstream } from '../helpers/hostile-server.js';
import { WireConnection } from '../hostile/wire.js';

// A Content-Length field among a chunked answer's trailers (RFC 9110 6.5.1: a recipient ignores
// it) is refused by llhttp, after the whole body has been read: the client's answer lost its last
// chunk and was cut, and a request pipelined behind it went unanswered. The body is complete by
// then: the answer ends as it is, the trailers dropped.

const stack = behindHostileUpstream();

it('an answer whose trailers carry Content-Length is relayed whole, and the connection serves the next request', async () => {
  stack.hostile.answer('trailer-length', {
    bytes: ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: Content-Length\r\n\r\n8\r\nabcdefgh\r\n0\r\nContent-Length: 8\r\n\r\n'],
    after: 'hold',
  });
  const connection = await WireConnection.open(stack.proxy.ports[0]!);
  try {
    const request = (path: string): string => `GET http://${stack.hostile.authority}${path} HTTP/1.1\r\nHost: ${stack.hostile.authority}\r\n\r\n`;
    const answer = await connection.exchange(request('/case/trailer-length'), 'GET', 3_000);
    expect(answer.kind).toBe('answer');
    if (answer.kind !== 'answer') return;
    expect(answer.status).toBe(200);
    expect(answer.body.toString()).toBe('abcdefgh');
    const next = await connection.exchange(request('/fine/next'), 'GET', 3_000);
    expect(next.kind === 'answer' && next.status).toBe(200);
    // An empty body, the head still held back when the trailers came: a 200 too, not a 502.
    stack.hostile.answer('trailer-length-empty', {
      bytes: ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nContent-Length: 0\r\n\r\n'],
      after: 'hold',
    });
    const empty = await connection.exchange(request('/case/trailer-length-empty'), 'GET', 3_000);
    expect(empty.kind === 'answer' && [empty.status, empty.body.toString()]).toEqual([200, '']);
  } finally {
    connection.destroy();
  }
});
