// The floor of a Node plain-HTTP proxy built as stickyport is (own process): http.Server in front,
// one undici Pool to the provider behind, the answer streamed into the ServerResponse with
// hop-by-hop headers dropped. No login, no session, no limits, no rules, no record: what Node's
// HTTP server and undici cost per request, measured beside Squid and stickyport by
// `node bench/ab.mjs --undici-hop`. CONNECT is not served.
// Usage (fork): undici-hop.mjs PROVIDER_PORT USER PASSWORD
import http from 'node:http';
import { Pool } from 'undici';

const [providerPort, user, password] = [Number(process.argv[2]), process.argv[3], process.argv[4]];
const AUTH = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const pool = new Pool(`http://127.0.0.1:${providerPort}`, { pipelining: 1, keepAliveTimeout: 60_000 });
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'proxy-authenticate', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

/** Flat [name, value, ...] without hop-by-hop headers, from Node's or undici's raw list. */
function endToEnd(raw) {
  const out = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i].toString('latin1');
    if (!HOP_BY_HOP.has(name.toLowerCase())) out.push(name, raw[i + 1].toString('latin1'));
  }
  return out;
}

const server = http.createServer((req, res) => {
  const headers = endToEnd(req.rawHeaders);
  headers.push('proxy-authorization', AUTH);
  const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
  pool.dispatch({ method: req.method, path: req.url, headers, body: hasBody ? req : null }, {
    onConnect() {},
    onHeaders(status, raw) {
      res.writeHead(status, endToEnd(raw));
      return true;
    },
    onData(chunk) {
      res.write(chunk);
      return true;
    },
    onComplete() {
      res.end();
    },
    onError() {
      if (res.headersSent) res.destroy();
      else res.writeHead(502, { 'content-length': 0 }).end();
    },
  });
});

server.keepAliveTimeout = 120_000;
server.headersTimeout = 130_000;
server.requestTimeout = 0;
server.listen(0, '127.0.0.1', () => process.send({ ready: true, port: server.address().port }));
process.on('disconnect', () => process.exit(0));
