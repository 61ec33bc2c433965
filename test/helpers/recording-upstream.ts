import { once } from 'node:events';
import http from 'node:http';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';

/** How the upstream treats the next requests; tests switch it at will. */
export type UpstreamMode = 'ok' | 'reset' | 'stall' | '407' | '503' | 'reset-tunnel';

export interface SeenRequest {
  readonly kind: 'http' | 'connect' | 'upgrade';
  readonly username: string;
  readonly password: string;
  /** Session id parsed from `customer-<name>-session-<id>`, if the user name has one. */
  readonly session: string | undefined;
  readonly target: string;
  /** Distinguishes client connections: the same number = the same TCP connection to us. */
  readonly connectionId: number;
  readonly headers: http.IncomingHttpHeaders;
  /** performance.now() when the request head arrived (tests run in the same process). */
  readonly at: number;
}

export interface RecordingUpstream {
  readonly port: number;
  readonly seen: SeenRequest[];
  mode: UpstreamMode;
  /** How long each CONNECT waits before it is answered (0: at once). */
  connectDelayMs: number;
  /** Session ids seen, in order. */
  sessions(): Array<string | undefined>;
  /** Connections currently open to this upstream (client side). */
  openConnections(): number;
  /** Resolves once `count` requests have been seen. */
  waitForRequests(count: number): Promise<void>;
  close(): Promise<void>;
}

const SESSION_USER = /-session-([^-:]+)/;

/**
 * A real authenticating forward proxy standing in for a residential-proxy provider. It checks
 * the Basic login (any user name, the given password), records every user name it sees per
 * connection, then forwards plain HTTP and CONNECT to the real target, unless `mode` says to
 * misbehave: reset the connection, stall, answer 407 or 503, or reset a tunnel after opening it.
 */
export async function startRecordingUpstream(
  /** The password it accepts, or a test of it (presets put parameters in the password). */
  password: string | ((password: string) => boolean) = 'secret',
  /** Serve the proxy over TLS (an `https://` upstream) with this key and certificate. */
  tls?: { key: string; cert: string },
  /**
   * The targets it may reach (a CONNECT authority, or an absolute URL); others are recorded and
   * answered 403. For clients that may send requests of their own to the internet (a browser).
   */
  only?: (target: string) => boolean,
): Promise<RecordingUpstream> {
  const seen: SeenRequest[] = [];
  const waiters: Array<{ count: number; resolve: () => void }> = [];
  const sockets = new Set<net.Socket>();
  let nextConnectionId = 1;
  const connectionIds = new WeakMap<net.Socket, number>();

  const record = (req: http.IncomingMessage, kind: SeenRequest['kind']): SeenRequest | undefined => {
    const login = parseLogin(req.headers['proxy-authorization']);
    const entry: SeenRequest = {
      kind,
      username: login?.username ?? '',
      password: login?.password ?? '',
      session: login ? SESSION_USER.exec(login.username)?.[1] : undefined,
      target: req.url!,
      connectionId: connectionIds.get(req.socket) ?? 0,
      headers: req.headers,
      at: performance.now(),
    };
    seen.push(entry);
    for (const waiter of [...waiters]) {
      if (seen.length >= waiter.count) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    }
    const accepted = typeof password === 'string' ? login?.password === password : login !== undefined && password(login.password);
    return accepted ? entry : undefined;
  };

  // Pooled connections to the origin, so a soak run does not exhaust ephemeral ports.
  const toOrigin = new http.Agent({ keepAlive: true });
  const server = tls ? https.createServer(tls) : http.createServer();
  server.keepAliveTimeout = 30_000;
  server.on(tls ? 'secureConnection' : 'connection', (socket: net.Socket) => {
    connectionIds.set(socket, nextConnectionId++);
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });

  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const ok = record(req, 'http');
    if (only && !only(req.url!)) {
      res.writeHead(403, { 'content-length': 0 }).end();
      return;
    }
    if (upstream.mode === 'stall') return;
    if (upstream.mode === 'reset') {
      req.socket.destroy();
      return;
    }
    if (!ok || upstream.mode === '407') {
      res.writeHead(407, { 'proxy-authenticate': 'Basic realm="provider"', 'content-length': 0 });
      res.end();
      return;
    }
    if (upstream.mode === '503') {
      res.writeHead(503, { 'content-type': 'text/plain' });
      res.end('provider overloaded');
      return;
    }
    const target = new URL(req.url!);
    // The path as the proxy sent it, byte for byte (URL would normalise /a/../b and \\).
    const rawPath = req.url!.replace(/^[a-z]+:\/\/[^/?]*/i, '') || '/';
    const headers = { ...req.headers };
    delete headers['proxy-authorization'];
    delete headers['proxy-connection'];
    const out = http.request(
      { host: target.hostname, port: target.port || 80, path: rawPath.startsWith('?') ? `/${rawPath}` : rawPath, method: req.method, headers, agent: toOrigin },
      (answer) => {
        res.writeHead(answer.statusCode!, answer.headers);
        // Trailers are passed on too: pipe() alone would drop them.
        answer.pipe(res, { end: false });
        answer.on('end', () => {
          if (answer.rawTrailers.length > 0) res.addTrailers(answer.trailers as Record<string, string>);
          res.end();
        });
      },
    );
    out.on('error', () => res.destroy());
    req.pipe(out);
  });

  server.on('connect', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    const ok = record(req, 'connect');
    socket.on('error', () => socket.destroy());
    if (only && !only(req.url!)) {
      socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    if (upstream.mode === 'stall') return;
    if (upstream.connectDelayMs > 0) setTimeout(answerConnect, upstream.connectDelayMs, req, socket, head, ok);
    else answerConnect(req, socket, head, ok);
  });

  function answerConnect(req: http.IncomingMessage, socket: net.Socket, head: Buffer, ok: SeenRequest | undefined): void {
    if (socket.destroyed) return;
    if (upstream.mode === 'reset') {
      socket.destroy();
      return;
    }
    if (!ok || upstream.mode === '407') {
      socket.end('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="provider"\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    if (upstream.mode === '503') {
      socket.end('HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const [host, port] = splitAuthority(req.url!);
    const target = net.connect({ host, port });
    target.on('error', () => socket.destroy());
    socket.on('close', () => target.destroy());
    // A clean end is passed on by pipe() once the bytes are out; only a reset cuts the client.
    target.on('close', (hadError) => hadError && socket.destroy());
    target.once('connect', () => {
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (upstream.mode === 'reset-tunnel') {
        socket.destroy();
        target.destroy();
        return;
      }
      if (head.length > 0) target.write(head);
      socket.pipe(target);
      target.pipe(socket);
    });
  }

  // A WebSocket (or any upgrade) sent as an absolute-URI request: passed on to the target in
  // origin form, then the bytes both ways.
  server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    const ok = record(req, 'upgrade');
    socket.on('error', () => socket.destroy());
    if (only && !only(req.url!)) {
      socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    if (!ok) {
      socket.end('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="provider"\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const target = new URL(req.url!);
    const out = net.connect({ host: target.hostname, port: Number(target.port || 80) });
    out.on('error', () => socket.destroy());
    socket.on('close', () => out.destroy());
    out.on('close', (hadError) => hadError && socket.destroy());
    let lines = `${req.method} ${target.pathname}${target.search} HTTP/1.1\r\n`;
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      if (!/^proxy-/i.test(req.rawHeaders[i]!)) lines += `${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}\r\n`;
    }
    out.write(`${lines}\r\n`);
    if (head.length > 0) out.write(head);
    socket.pipe(out);
    out.pipe(socket);
  });

  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;

  const upstream: RecordingUpstream = {
    port,
    seen,
    mode: 'ok',
    connectDelayMs: 0,
    sessions: () => seen.map((entry) => entry.session),
    openConnections: () => sockets.size,
    waitForRequests: (count) =>
      seen.length >= count ? Promise.resolve() : new Promise((resolve) => waiters.push({ count, resolve })),
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        toOrigin.destroy();
        server.close(() => resolve());
      }),
  };
  return upstream;
}

function parseLogin(header: string | undefined): { username: string; password: string } | undefined {
  if (!header?.startsWith('Basic ')) return undefined;
  const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? undefined : { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

function splitAuthority(authority: string): [string, number] {
  const colon = authority.lastIndexOf(':');
  const host = authority.slice(0, colon).replace(/^\[|\]$/g, '');
  return [host, Number(authority.slice(colon + 1))];
}
