import { once } from 'node:events';
import http from 'node:http';
import type net from 'node:net';
import { Secret } from '../auth/client-auth.js';
import { isLoopbackHost } from '../config/formats.js';
import { StickyportError } from '../errors.js';
import { describeListenFailures } from '../proxy/listener-pool.js';
import type { AdminContext } from './admin-context.js';
import { answersPost, createAdminApi, type AdminAnswer } from './admin-api.js';
import { EventStream, MAX_STREAMS } from './event-stream.js';
import { isPageFile, servePageFile } from './static-page.js';
import { refuseBroken, refuseConnectInTurn } from '../proxy/json-refusals.js';
import { answersAhead, connectionEnding, whenBodyKnown } from '../proxy/ordered-answers.js';

export interface AdminServerOptions {
  readonly host: string;
  readonly port: number;
  /** The port is Admin.Port "auto"'s choice: the one below the first proxy port. */
  readonly portAuto?: boolean;
  /** Admin.Token; '' = none (loopback only: the configuration refuses it elsewhere). */
  readonly token: string;
}

const MAX_BODY = 64 * 1024;
/**
 * Admin connections at once, and from one address. They come out of the descriptors the proxy
 * ports' limits keep for the process's own work (proxy/connection-limits.ts): uncounted, 600
 * idle admin connections, which need no token, made tunnels fail with EMFILE. Per address (not
 * loopback, which every local client shares: pages, Prometheus, probes), so that one remote
 * client holding its share leaves room for the probes; event streams, which stay open, take at
 * most half of the whole (event-stream.ts).
 */
const MAX_CONNECTIONS = 64;
const MAX_CONNECTIONS_PER_CLIENT = 16;
/** Node checks head and request timeouts this often (its default, 30 s, tripled the 10 s head limit). */
const TIMEOUT_CHECK_MS = 1_000;
const NOT_A_PROXY = 'the admin server is not a proxy: send requests for its own paths (/, /metrics, /api/...)';
/** How long a refused CONNECT's socket may stay open after its 400, whatever the client does. */
export const REFUSAL_DEADLINE_MS = 1_000;

/**
 * The operators' HTTP server, on a port of its own: the status page, `/metrics`, the ports and
 * sessions API, reload, and the probes. It never proxies. With Admin.Token every answer but the
 * probes and the page's own files needs `Authorization: Bearer TOKEN` (compared in constant
 * time). Without one (loopback only) it answers only requests addressed to a loopback name or
 * its own address, so a web page cannot reach it through DNS rebinding, and a POST from a page
 * of another origin is refused.
 */
export class AdminServer {
  private readonly server: http.Server;
  private readonly token: Secret | undefined;
  private readonly api: ReturnType<typeof createAdminApi>;
  private readonly events: EventStream;
  /** CONNECTs answered 400, until their sockets close. */
  private readonly refused = new Set<net.Socket>();

  constructor(
    private readonly context: AdminContext,
    private readonly options: AdminServerOptions,
  ) {
    this.token = options.token ? new Secret(options.token) : undefined;
    this.api = createAdminApi(context);
    this.events = new EventStream(context);
    this.server = http.createServer((request, response) => {
      this.handle(request, response).catch((error: unknown) => {
        context.log.error({ err: error, path: request.url }, 'BUG: unexpected error in the admin server');
        if (!response.headersSent) json(response, 500, { error: 'internal', message: 'internal error in the admin server' });
        else response.destroy();
      });
    });
    this.server.headersTimeout = 10_000;
    this.server.requestTimeout = 30_000;
    (this.server as http.Server & { connectionsCheckingInterval: number }).connectionsCheckingInterval = TIMEOUT_CHECK_MS;
    this.server.maxConnections = MAX_CONNECTIONS;
    this.limitPerClient();
    // Node closes a CONNECT nobody listens for without a word: say why, as for an absolute URL.
    // Node no longer tracks the socket once it is handed over: it is held here, and closed at a
    // fixed deadline, or a client that never closes its side kept it (and its connection slot,
    // and a stop) for good.
    // Its 400 comes in turn, after the answers to requests pipelined before it.
    this.server.on('connect', (_request: http.IncomingMessage, socket: net.Socket) => {
      this.refused.add(socket);
      socket.once('close', () => this.refused.delete(socket));
      socket.on('error', () => socket.destroy());
      refuseConnectInTurn(socket, 400, { error: 'not_a_proxy', message: NOT_A_PROXY }, REFUSAL_DEADLINE_MS);
    });
    this.server.on('clientError', (error: NodeJS.ErrnoException, socket: net.Socket) => refuseBroken(error, socket, REFUSAL_DEADLINE_MS));
  }

  /** Closes at once a connection from an address that holds MAX_CONNECTIONS_PER_CLIENT already. */
  private limitPerClient(): void {
    const shares = new AddressShares(MAX_CONNECTIONS_PER_CLIENT);
    this.server.on('connection', (socket: net.Socket) => {
      const client = socket.remoteAddress ?? '';
      if (!shares.admit(client)) {
        socket.destroy();
        return;
      }
      socket.once('close', () => shares.release(client));
    });
  }

  /** Binds, or throws LISTEN_FAILED naming Admin.Port. */
  async start(): Promise<void> {
    this.server.listen({ host: this.options.host, port: this.options.port, exclusive: true });
    try {
      await once(this.server, 'listening');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? String(error);
      const text = describeListenFailures(this.options.host, new Map([[this.options.port, code]]), { hostKey: 'Admin.Host' });
      // Ranges that touch: the port below this instance's range is the last of another's.
      const auto = this.options.portAuto && code === 'EADDRINUSE'
        ? ` (Admin.Port "auto" took the port below the first proxy port; another stickyport whose range ends at ${this.options.port} holds it, if one runs: set Admin.Port, or Admin.Enabled false)`
        : '';
      throw new StickyportError('LISTEN_FAILED', `admin server (Admin.Host, Admin.Port): ${text}${auto}`);
    }
  }

  get address(): net.AddressInfo {
    return this.server.address() as net.AddressInfo;
  }

  async close(): Promise<void> {
    this.events.close();
    if (!this.server.listening) return;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    for (const socket of this.refused) socket.destroy();
    await closed;
  }

  private async handle(request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
    // Pipelined requests are answered one at a time, each built only once the answers before it
    // are written, as on the proxy ports: Node parses a whole read at once, and a client that
    // pipelined 1 200 `/api/ports?limit=1000` in one write without reading had all 1 200 answers
    // built and held (250 MB a connection; 43 connections ran the process out of memory).
    const turn = answersAhead(request.socket, response);
    if (turn) await turn;
    if (connectionEnding(request.socket, response)) return;
    if (!request.url?.startsWith('/')) return json(response, 400, { error: 'not_a_proxy', message: NOT_A_PROXY });
    // Glued to a base rather than resolved against it: `//api/summary` would name a host "api".
    const url = new URL(`http://admin${request.url}`);
    const path = url.pathname;
    const method = request.method ?? 'GET';
    if (!this.token && !this.addressedToUs(request)) {
      return json(response, 421, { error: 'misdirected', message: 'the admin server answers only requests to its own address or a loopback name' });
    }
    if (path === '/healthz' || path === '/readyz') {
      // Probes read only; HEAD for checkers that send it (Node answers it without the body).
      if (method === 'GET' || method === 'HEAD') return this.probe(path, response);
      return json(response, 405, { error: 'method_not_allowed', message: `${path} answers GET and HEAD only` }, { allow: 'GET, HEAD' });
    }
    if (isPageFile(path)) {
      if (method === 'GET' || method === 'HEAD') return servePageFile(path, response, method === 'HEAD');
      return json(response, 405, { error: 'method_not_allowed', message: `${path} answers GET and HEAD only` }, { allow: 'GET, HEAD' });
    }
    if (this.token && !this.authorized(request)) {
      response.setHeader('www-authenticate', 'Bearer realm="stickyport admin"');
      return json(response, 401, { error: 'unauthorized', message: 'send Authorization: Bearer <Admin.Token>' });
    }
    if (method === 'POST' && !sameOrigin(request)) {
      return json(response, 403, { error: 'cross_origin', message: 'a POST from a page of another origin is refused' });
    }
    if (path === '/metrics') {
      if (method !== 'GET') return json(response, 405, { error: 'method_not_allowed', message: '/metrics answers GET only' }, { allow: 'GET' });
      const text = await this.context.metrics.text();
      response.writeHead(200, { 'content-type': this.context.metrics.contentType, 'cache-control': 'no-store' });
      return void response.end(text);
    }
    if (path === '/api/events') {
      if (method !== 'GET') return json(response, 405, { error: 'method_not_allowed', message: '/api/events answers GET only' }, { allow: 'GET' });
      if (this.events.full) {
        return json(response, 503, { error: 'too_many_streams', message: `${MAX_STREAMS} event streams are open, the most the admin server keeps: close a status page` }, { 'retry-after': '10' });
      }
      return this.events.open(request, response);
    }
    // Read only for a path that takes a POST: any other answers 404 or 405, whatever it carries.
    const body = method === 'POST' && answersPost(path) ? await readJson(request) : undefined;
    if (body instanceof BodyRefused) return json(response, body.status, { error: body.code, message: body.message });
    const answer: AdminAnswer | undefined = await this.api({ method, path, query: url.searchParams, body, by: request.socket.remoteAddress ?? 'unknown' });
    if (!answer) return json(response, 404, { error: 'not_found', message: `no such admin path: ${path}` });
    json(response, answer.status, answer.body, answer.allow === undefined ? {} : { allow: answer.allow });
  }

  /** /healthz: the process runs and every port is bound. /readyz: the store answers, or serves from its fallback. */
  private probe(path: string, response: http.ServerResponse): void {
    const { context } = this;
    if (path === '/healthz') {
      const ports = context.mappings.ports();
      const down = ports.filter((port) => !context.listeners.isListening(port));
      const ok = down.length === 0;
      return json(response, ok ? 200 : 503, { status: ok ? 'ok' : 'failing', ports: ports.length, notListening: down.slice(0, 100) });
    }
    const store = context.storeHealth();
    const accepting = context.accepting();
    const ready = accepting && (store.state === 'up' || store.state === 'fallback');
    json(response, ready ? 200 : 503, { status: ready ? 'ready' : 'not_ready', accepting, store: { kind: context.storeKind, state: store.state } });
  }

  private authorized(request: http.IncomingMessage): boolean {
    const match = /^\s*bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '');
    return match !== null && this.token!.matches(match[1]!);
  }

  /** The Host header names a loopback address or the admin server's own host. */
  private addressedToUs(request: http.IncomingMessage): boolean {
    const host = hostnameOf(request.headers.host ?? '');
    return host !== undefined && (isLoopbackHost(host) || host === this.options.host);
  }
}

/** The host name of a Host header (`[::1]:10200` -> `::1`), or undefined. */
function hostnameOf(header: string): string | undefined {
  const match = /^(?:\[([^\]]+)\]|([^:]+))(?::\d+)?$/.exec(header.trim());
  return match ? (match[1] ?? match[2])!.toLowerCase() : undefined;
}

/** No Origin (curl, scripts), or one whose host is the Host the request was sent to. */
function sameOrigin(request: http.IncomingMessage): boolean {
  const origin = request.headers.origin;
  if (origin === undefined) return request.headers['sec-fetch-site'] !== 'cross-site';
  try {
    return new URL(origin).host === request.headers.host;
  } catch {
    return false;
  }
}

/** A request body the API does not read: too large (413), or not JSON (400). */
class BodyRefused extends Error {
  constructor(readonly status: 400 | 413, readonly code: 'body_too_large' | 'bad_json', message: string) {
    super(message);
  }
}

async function readJson(request: http.IncomingMessage): Promise<unknown> {
  // Too large is its own answer, 413, not a body that "is not JSON".
  const tooLarge = (): BodyRefused => new BodyRefused(413, 'body_too_large', `the body is over ${MAX_BODY} bytes`);
  if (Number(request.headers['content-length'] ?? 0) > MAX_BODY) return tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) return tooLarge();
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return new BodyRefused(400, 'bad_json', 'the body is not JSON');
  }
}

/**
 * Connections per client address, each at most `max`; loopback addresses are not counted (every
 * local client shares them: the total cap alone bounds them).
 */
export class AddressShares {
  private readonly held = new Map<string, number>();

  constructor(private readonly max: number) {}

  /** Takes a share for `address`; false when it holds `max` already. */
  admit(address: string): boolean {
    const client = plainAddress(address);
    if (isLoopbackHost(client)) return true;
    const held = this.held.get(client) ?? 0;
    if (held >= this.max) return false;
    this.held.set(client, held + 1);
    return true;
  }

  release(address: string): void {
    const client = plainAddress(address);
    if (isLoopbackHost(client)) return;
    const left = (this.held.get(client) ?? 1) - 1;
    if (left > 0) this.held.set(client, left);
    else this.held.delete(client);
  }
}

/** An IPv4 client of a dual-stack listener as its IPv4 address (`::ffff:127.0.0.1` is loopback). */
function plainAddress(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

function json(response: http.ServerResponse, status: number, body: unknown, headers: http.OutgoingHttpHeaders = {}): void {
  // An answer before the request's body was read (a 404, a 405, a refusal) closes the
  // connection: a body still trickling in must not hold it.
  whenBodyKnown(response.req, (bodyUnread) => {
    if (response.headersSent || response.destroyed) return;
    if (bodyUnread) response.shouldKeepAlive = false;
    writeJson(response, status, body, headers);
  });
}

function writeJson(response: http.ServerResponse, status: number, body: unknown, headers: http.OutgoingHttpHeaders): void {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    ...headers,
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
  });
  response.end(text);
}
