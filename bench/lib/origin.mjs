// Bench origin (own process): GET / -> a small body; GET /stream?bytes=N -> N bytes.
// Started by bench/run.mjs with fork(); reports { ready, port } over IPC.
import http from 'node:http';

const SMALL = Buffer.from('hello from the stickyport bench origin\n');
const CHUNK = Buffer.alloc(256 * 1024, 'stickyport');

function stream(res, total) {
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': total });
  let left = total;
  const pump = () => {
    while (left > 0) {
      const piece = left >= CHUNK.length ? CHUNK : CHUNK.subarray(0, left);
      left -= piece.length;
      if (!res.write(piece)) {
        res.once('drain', pump);
        return;
      }
    }
    res.end();
  };
  pump();
}

const server = http.createServer((req, res) => {
  const url = req.url;
  if (url.startsWith('/stream?bytes=')) {
    const total = Number(url.slice('/stream?bytes='.length));
    if (Number.isSafeInteger(total) && total >= 0) return stream(res, total);
  }
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': SMALL.length });
  res.end(SMALL);
});
server.keepAliveTimeout = 120_000;
server.headersTimeout = 130_000;
server.requestTimeout = 0;
server.maxHeadersCount = 100;
server.listen(0, '127.0.0.1', () => process.send({ ready: true, port: server.address().port }));
process.on('disconnect', () => process.exit(0));
