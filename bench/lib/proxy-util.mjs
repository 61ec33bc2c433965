// Small helpers shared by the provider simulator and the bench's own hops.
import http from 'node:http';

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'te', 'trailer', 'upgrade']);

/** Header object without hop-by-hop headers. */
export function endToEnd(headers) {
  const out = {};
  for (const name in headers) if (!HOP_BY_HOP.has(name)) out[name] = headers[name];
  return out;
}

/** `http://host:port/path?q` -> { host, port, path }, or undefined when not an absolute http URI. */
export function splitAbsolute(url) {
  if (!url.startsWith('http://')) return undefined;
  let slash = url.indexOf('/', 7);
  if (slash < 0) slash = url.length;
  const authority = url.slice(7, slash);
  const colon = authority.lastIndexOf(':');
  const host = colon > 0 && !authority.endsWith(']') ? authority.slice(0, colon) : authority;
  const port = colon > 0 && !authority.endsWith(']') ? Number(authority.slice(colon + 1)) : 80;
  return { host: host.replace(/^\[|\]$/g, ''), port, path: url.slice(slash) || '/' };
}

/** Reads an HTTP head (up to CRLFCRLF) from a socket, then hands over the socket and the rest. */
export function readHead(socket, onHead) {
  let buffer = Buffer.alloc(0);
  const onData = (chunk) => {
    buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk]);
    const end = buffer.indexOf('\r\n\r\n');
    if (end < 0) {
      if (buffer.length > 16_384) socket.destroy();
      return;
    }
    socket.removeListener('data', onData);
    onHead(buffer.subarray(0, end).toString('latin1'), buffer.subarray(end + 4));
  };
  socket.on('data', onData);
}

/** Pipes two sockets both ways; either one closing or failing destroys the other. */
export function splice(a, b) {
  a.pipe(b);
  b.pipe(a);
  a.on('error', () => b.destroy());
  b.on('error', () => a.destroy());
  a.once('close', () => b.destroy());
  b.once('close', () => a.destroy());
}

export const ESTABLISHED = 'HTTP/1.1 200 Connection Established\r\n\r\n';

/**
 * A hop's CONNECT once the provider has it: waits for the provider's head, answers the client
 * 502 unless it is a 200, else 200, hands each side the bytes already read past the other's head
 * (`early`: the client's), and calls `join` to relay from then on.
 */
export function whenProviderAnswers(upstream, client, early, join) {
  readHead(upstream, (statusHead, rest) => {
    if (!statusHead.startsWith('HTTP/1.1 200')) {
      client.end('HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n');
      upstream.destroy();
      return;
    }
    client.write(ESTABLISHED);
    if (rest.length > 0) client.write(rest);
    if (early.length > 0) upstream.write(early);
    join();
  });
}

/** Sends `req` on with `options` and streams the answer into `res`; 502 if it fails before answering. */
export function forwardRequest(req, res, options, onFailure) {
  const outgoing = http.request(options);
  outgoing.on('response', (incoming) => {
    res.writeHead(incoming.statusCode, endToEnd(incoming.headers));
    incoming.pipe(res);
  });
  outgoing.on('error', () => {
    onFailure?.();
    if (res.headersSent) return res.destroy();
    res.writeHead(502, { 'content-length': 0 });
    res.end();
  });
  res.once('close', () => {
    if (!res.writableFinished) outgoing.destroy();
  });
  req.pipe(outgoing);
}
