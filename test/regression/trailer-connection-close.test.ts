import { describe, expect, it } from 'vitest';
import { behindHostileUpstream } from '../helpers/hostile-server.js';
import { rawExchange } from '../helpers/raw.js';

// A `Connection: close` among a chunked answer's trailers (RFC 9110 6.5.1 forbids it there, but
// an upstream may send it) left undici's connection in its pool as reusable while its parser
// (llhttp) took the trailer to heart: the next request went out on it, the upstream answered,
// and the parser refused the answer ("Data after Connection: close"), so the client got a 502
// for a request the upstream had served (a POST is never sent twice). The connection is now
// closed after such an answer, and the next request goes out on a fresh one.

const stack = behindHostileUpstream();

// Those that leave the connection usable first: a case that breaks it would break the next one's
// first request too.
const TRAILERS: Record<string, string> = {
  'keep-alive': 'Connection: keep-alive',
  'upgrade-options': 'Connection: upgrade\r\nUpgrade: websocket',
  'connection-close': 'Connection: close',
  'proxy-connection-close': 'Proxy-Connection: close',
  'close-among-options': 'connection: keep-alive, CLOSE',
  'close-after-another-trailer': 'X-Checksum: 1\r\nConnection:close',
};

describe('a chunked answer with Connection: close among its trailers', () => {
  it.each(Object.keys(TRAILERS))('%s: is relayed whole, and the next request on the port is answered by the upstream', async (key) => {
    stack.hostile.answer(key, {
      bytes: [`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: Connection\r\n\r\n5\r\nhello\r\n0\r\n${TRAILERS[key]}\r\n\r\n`],
      after: 'keep-alive',
    });
    const port = stack.proxy.ports[0]!;
    const first = await rawExchange(port, `GET http://${stack.hostile.authority}/case/${key} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    expect(first).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\n5\r\nhello\r\n0\r\n(?:X-Checksum: 1\r\n)?\r\n$/);
    const headsBefore = stack.hostile.heads.length;
    const second = await rawExchange(port, `POST http://${stack.hostile.authority}/after HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
    expect(second).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*fine http:\/\/127\.0\.0\.1:\d+\/after$/);
    expect(stack.hostile.heads.length).toBe(headsBefore + 1);
  });
});
