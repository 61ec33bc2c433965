// Upstream provider simulator (own process): an authenticating forward proxy accepting
// `customer-<name>-session-<id>` user names with the password "secret", counting requests per
// session. Plain HTTP goes to the target on a keep-alive agent; CONNECT is net.connect + pipe.
// Started with fork(); reports { ready, port } over IPC and answers { type: 'stats' } messages.
import http from 'node:http';
import net from 'node:net';
import { ESTABLISHED, endToEnd, forwardRequest, splice, splitAbsolute } from './proxy-util.mjs';

const PASSWORD = 'secret';
const USER = /^customer-[^-:]+-session-([^-:]+)$/;

const perSession = new Map();
const totals = { http: 0, connect: 0, rejected: 0, failed: 0 };
// Proxy-Authorization header -> session id (false = rejected). Clients resend the same few headers.
const logins = new Map();

function sessionOf(header) {
  if (header === undefined) return false;
  let session = logins.get(header);
  if (session !== undefined) return session;
  session = false;
  const match = /^Basic\s+(\S+)$/i.exec(header);
  if (match) {
    const decoded = Buffer.from(match[1], 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    const user = USER.exec(decoded.slice(0, colon));
    if (colon > 0 && user && decoded.slice(colon + 1) === PASSWORD) session = user[1];
  }
  if (logins.size > 50_000) logins.clear();
  logins.set(header, session);
  return session;
}

function count(session) {
  perSession.set(session, (perSession.get(session) ?? 0) + 1);
}

const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity, maxFreeSockets: 1024, scheduling: 'lifo' });

const server = http.createServer((req, res) => {
  const session = sessionOf(req.headers['proxy-authorization']);
  if (session === false) {
    totals.rejected++;
    res.writeHead(407, { 'proxy-authenticate': 'Basic realm="provider"', 'content-length': 0 });
    res.end();
    return;
  }
  const target = splitAbsolute(req.url);
  if (!target) {
    res.writeHead(400, { 'content-length': 0 });
    res.end();
    return;
  }
  totals.http++;
  count(session);
  const options = { host: target.host, port: target.port, method: req.method, path: target.path, headers: endToEnd(req.headers), agent };
  forwardRequest(req, res, options, () => totals.failed++);
});

server.on('connect', (req, client, head) => {
  client.on('error', () => {});
  const session = sessionOf(req.headers['proxy-authorization']);
  if (session === false) {
    totals.rejected++;
    client.end('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="provider"\r\nContent-Length: 0\r\n\r\n');
    return;
  }
  totals.connect++;
  count(session);
  const colon = req.url.lastIndexOf(':');
  const target = net.connect({ host: req.url.slice(0, colon).replace(/^\[|\]$/g, ''), port: Number(req.url.slice(colon + 1)), noDelay: true });
  target.once('connect', () => {
    client.write(ESTABLISHED);
    if (head.length > 0) target.write(head);
    splice(client, target);
  });
  target.once('error', () => {
    totals.failed++;
    if (!target.connecting) return;
    client.end('HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n');
  });
  client.once('close', () => target.destroy());
});

server.keepAliveTimeout = 120_000;
server.headersTimeout = 130_000;
server.requestTimeout = 0;
server.listen(0, '127.0.0.1', () => process.send({ ready: true, port: server.address().port }));
process.on('message', (message) => {
  if (message?.type === 'stats') process.send({ type: 'stats', totals, sessions: Object.fromEntries(perSession) });
});
process.on('disconnect', () => process.exit(0));
