import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Origin {
  readonly port: number;
  readonly url: string;
  /** Requests the origin answered, in order. */
  readonly requests: Array<{ method: string; url: string; headers: http.IncomingHttpHeaders }>;
  close(): Promise<void>;
}

/**
 * A real HTTP origin on 127.0.0.1:
 *   GET /            -> "hello"
 *   GET /headers     -> the request headers as JSON
 *   GET /bytes/N     -> N bytes of a repeating pattern
 *   POST /echo       -> the request body
 *   GET /delay/MS    -> "late", after MS milliseconds
 *   GET /chunked     -> "hello world" in two chunks, no Content-Length
 *   GET /hop         -> "hop", with hop-by-hop headers that must not reach a proxy's client
 *   GET /trailers    -> "body" chunked, with the trailer X-Checksum: abc
 *   GET /etag        -> "tagged" with ETag "v1"; 304 (with Content-Length) when If-None-Match matches
 *   POST /count      -> the number of body bytes received, read with pauses (backpressure)
 */
export async function startOrigin(): Promise<Origin> {
  const requests: Origin['requests'] = [];
  const server = http.createServer((req, res) => {
    requests.push({ method: req.method!, url: req.url!, headers: req.headers });
    const path = req.url!;
    if (path === '/headers') {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(req.headers));
    } else if (path.startsWith('/bytes/')) {
      const total = Number(path.slice('/bytes/'.length));
      res.setHeader('content-length', total);
      const chunk = Buffer.alloc(64 * 1024, 'abcdefgh');
      let left = total;
      const pump = (): void => {
        while (left > 0) {
          const piece = left >= chunk.length ? chunk : chunk.subarray(0, left);
          left -= piece.length;
          if (!res.write(piece)) {
            res.once('drain', pump);
            return;
          }
        }
        res.end();
      };
      pump();
    } else if (path === '/chunked') {
      res.write('hello ');
      setImmediate(() => res.end('world'));
    } else if (path === '/hop') {
      res.writeHead(200, {
        connection: 'keep-alive, X-Hop-Named',
        'x-hop-named': 'must go',
        'keep-alive': 'timeout=97',
        'proxy-authenticate': 'Basic realm="origin"',
        'proxy-authentication-info': 'nextnonce="abc"',
        'proxy-status': 'origin; error=none',
        'x-end-to-end': 'stays',
        'content-length': 3,
      });
      res.end('hop');
    } else if (path === '/trailers') {
      res.writeHead(200, { trailer: 'X-Checksum' });
      res.write('bo');
      res.addTrailers({ 'x-checksum': 'abc' });
      res.end('dy');
    } else if (path === '/etag') {
      if (req.headers['if-none-match'] === '"v1"') {
        res.writeHead(304, { etag: '"v1"', 'content-length': 6 });
        res.end();
      } else {
        res.writeHead(200, { etag: '"v1"', 'content-length': 6 });
        res.end('tagged');
      }
    } else if (path === '/count') {
      let count = 0;
      req.on('data', (chunk: Buffer) => {
        count += chunk.length;
        // A slow reader: the sender must wait, not buffer.
        req.pause();
        setTimeout(() => req.resume(), 1);
      });
      req.on('end', () => res.end(String(count)));
    } else if (path.startsWith('/delay/')) {
      setTimeout(() => res.end('late'), Number(path.slice('/delay/'.length))).unref();
    } else if (path === '/echo') {
      req.pipe(res);
    } else {
      res.setHeader('content-type', 'text/plain');
      res.end('hello');
    }
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
