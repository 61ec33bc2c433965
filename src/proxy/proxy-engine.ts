import http from 'node:http';
import type net from 'node:net';
import { RequestError, Server, type PrepareRequestFunctionOpts, type PrepareRequestFunctionResult } from 'proxy-chain';
import type { ApiGateway } from '../api/api-gateway.js';
import type { ClientAuth } from '../auth/client-auth.js';
import { StickyportError } from '../errors.js';
import type { Logger } from '../logging/logger.js';
import { authorityOf, type Observe, type RequestKind } from '../observe/request-record.js';
import { observeRefusal, observeTunnel } from '../observe/tunnel-record.js';
import type { Binding } from '../ports/port-state.js';
import type { Ports } from '../ports/ports.js';
import { Drain } from './drain.js';
import { fail, forwardHttp, type ForwardOptions } from './forward.js';
import { requestHeadersOut, unframeableRequest } from './hop-headers.js';
import { httpTarget } from './http-target.js';
import { portOf } from './listener-pool.js';
import { ESTABLISHED, tunnel } from './tunnel.js';

export interface ProxyEngineOptions {
  readonly ports: Ports;
  readonly api: ApiGateway | undefined;
  /** Set when Authentication.Required is on. */
  readonly clientAuth: ClientAuth | undefined;
  readonly log: Logger;
  /** Listen.IdleTimeout: idle keep-alive connections and tunnels close after it. */
  readonly idleTimeoutMs: number;
  /** Listen.HeadersTimeout: a request head must be complete within it, else 408. */
  readonly headersTimeoutMs: number;
  /** Receives each finished request and tunnel (request log, statistics, metrics); absent = none. */
  readonly observe?: Observe;
}

const RELATIVE_URL_HINT =
  'stickyport is a forward proxy: send absolute-URI requests through it, ' +
  'e.g. curl -x http://127.0.0.1:PORT http://example.com/';

/**
 * proxy-chain's Server is the engine: it parses requests and targets, reads the client's
 * proxy login, answers 400/407 and keeps the connection registry. Its prepareRequestFunction
 * is the one policy hook (client login, then the port's session). The traffic paths are
 * stickyport's own: per-session undici pools, and upstream failures answered as 502/504
 * with a reason instead of proxy-chain's 59x codes.
 */
export class ProxyEngine extends Server {
  readonly drain: Drain;
  private readonly forwarding: ForwardOptions;

  constructor(private readonly engine: ProxyEngineOptions) {
    super({ verbose: false, authRealm: 'stickyport' });
    this.prepareRequestFunction = (opts) => this.prepare(opts);
    this.drain = new Drain(this.server, engine.log);
    this.forwarding = {
      log: engine.log,
      drain: this.drain,
      idleTimeoutMs: engine.idleTimeoutMs,
      observe: engine.observe,
      currentRoute: async (port) => (await engine.ports.get(port).current()).route,
    };
    armServerTimers(this.server, engine);
    this.server.on('upgrade', (request: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
      this.onUpgrade(request, socket, head).catch((error: unknown) => {
        this.engine.log.error({ err: error, port: portOf(socket) }, 'BUG: unexpected error in an upgrade');
        socket.destroy();
      });
    });
  }

  /**
   * Hands an accepted connection (from any port's listener) to the HTTP parser, with the bytes
   * already read from it to tell HTTP from SOCKS (src/socks/first-byte.ts).
   */
  accept(socket: net.Socket, first?: Buffer): void {
    this.server.emit('connection', socket);
    if (first) socket.emit('data', first);
  }

  /** A connection that sent nothing within Listen.HeadersTimeout gets the header timer's 408. */
  answerSilent(socket: net.Socket): void {
    this.onClientError(Object.assign(new Error('no request head'), { code: 'ERR_HTTP_REQUEST_TIMEOUT' }), socket);
  }

  override async onRequest(request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
    const startedAt = this.engine.observe ? performance.now() : 0;
    try {
      // Pipelined requests are taken one at a time: each waits until the answers before it are
      // written. Otherwise one connection pipelining hundreds of requests would open hundreds
      // of upstream connections at once, past every connection limit.
      const earlier = (request.socket as SocketWithAnswer)._httpMessage;
      if (earlier && earlier !== response && !earlier.writableFinished) await earlierAnswersWritten(request.socket, response);
      if (request.socket.destroyed) return;
      this.armRequestTimers(request);
      const url = request.url!;
      const apiPath = this.engine.api?.match(url);
      if (apiPath !== undefined) {
        await this.engine.api!.answer(request, response, apiPath, portOf(request.socket));
        return;
      }
      if (url[0] === '/') throw new RequestError(RELATIVE_URL_HINT, 400);
      const unframeable = unframeableRequest(request);
      if (unframeable) throw new RequestError(`cannot forward a request with ${unframeable}`, 400);
      const { trgParsed, customTag } = await this.prepareRequestHandling(request);
      const target = httpTarget(url, trgParsed!);
      if (this.engine.log.isLevelEnabled('debug')) {
        this.engine.log.debug({ port: portOf(request.socket), method: request.method, host: target.authority }, 'request');
      }
      const outgoing = {
        method: request.method!,
        headers: requestHeadersOut(request.rawHeaders, target),
        body: hasBody(request) ? request : null,
      };
      forwardHttp(request, response, target, (customTag as Binding).route, outgoing, this.forwarding);
    } catch (error) {
      this.answerError(request, response, error, 'http', startedAt);
    }
  }

  /**
   * A request asking to switch protocols (a WebSocket, `ws://` through the proxy): forwarded as
   * an upgrade through the port's session; after a 101 the two sockets are joined, and the
   * connection is bound to the session like a tunnel, so a rotation closes it.
   */
  async onUpgrade(request: http.IncomingMessage, socket: net.Socket, head: Buffer): Promise<void> {
    const startedAt = this.engine.observe ? performance.now() : 0;
    // An answer to a request pipelined before this one may still own the socket.
    await earlierAnswersWritten(socket);
    if (socket.destroyed) return;
    // Node hands the socket over with no response object: make one, for ordered error answers.
    const response = new http.ServerResponse(request);
    response.shouldKeepAlive = false;
    response.assignSocket(socket);
    response.once('finish', () => socket.end());
    try {
      if (socket.timeout) socket.setTimeout(0);
      if (head.length > 0) socket.unshift(head);
      const url = request.url!;
      if (url[0] === '/' || this.engine.api?.match(url) !== undefined) throw new RequestError(RELATIVE_URL_HINT, 400);
      const { trgParsed, customTag } = await this.prepareRequestHandling(request);
      const target = httpTarget(url, trgParsed!);
      const binding = customTag as Binding;
      const state = this.engine.ports.get(portOf(socket));
      const outgoing = {
        method: request.method!,
        headers: requestHeadersOut(request.rawHeaders, target),
        body: null,
        upgrade: request.headers.upgrade!,
        // Bound when switched; a rotation that landed meanwhile closes it straight away.
        switched: () => state.bindTunnel(binding, socket),
      };
      forwardHttp(request, response, target, binding.route, outgoing, this.forwarding);
    } catch (error) {
      this.answerError(request, response, error, 'websocket', startedAt);
    }
  }

  override async onConnect(request: http.IncomingMessage, socket: net.Socket, head: Buffer): Promise<void> {
    const { observe } = this.engine;
    let startedAt = observe ? performance.now() : 0;
    let sessionId: string | undefined;
    try {
      // Opening the tunnel may take up to Upstream.ConnectTimeout; the tunnel re-arms the idle timer.
      if (socket.timeout) socket.setTimeout(0);
      const apiHost = unbracket(request.url!.slice(0, request.url!.lastIndexOf(':')));
      if (this.engine.api?.isApiHost(apiHost)) {
        throw new RequestError(
          `the session API answers plain HTTP only: GET http://${apiHost}/session/ through this port`,
          400,
        );
      }
      const { trgParsed, customTag } = await this.prepareRequestHandling(request);
      if (this.engine.log.isLevelEnabled('debug')) {
        this.engine.log.debug({ port: portOf(socket), method: 'CONNECT', host: request.url }, 'request');
      }
      const state = this.engine.ports.get(portOf(socket));
      const hostname = unbracket(trgParsed!.hostname);
      const port = Number(trgParsed!.port);
      let binding = customTag as Binding;
      for (;;) {
        sessionId = binding.session.id;
        const opened = await binding.route.openTunnel(hostname, port);
        // Bound once open: a rotation that landed while the upstream side was opening sends the
        // tunnel out again on the new session instead of cutting a client that got no answer.
        if (state.bindTunnel(binding, socket)) {
          if (observe) {
            const start = { port: state.port, kind: 'connect' as const, host: request.url!, sessionId, startedAt, openedAt: performance.now() };
            observeTunnel(socket, head, ESTABLISHED.length, start, observe);
            // The tunnel's close records it from here on.
            sessionId = undefined;
            startedAt = 0;
          }
          await tunnel(socket, head, opened, this.engine.idleTimeoutMs);
          return;
        }
        opened.reads.socket.destroy();
        if (socket.destroyed) return;
        binding = await state.current();
      }
    } catch (error) {
      this.answerError(request, undefined, error, 'connect', startedAt, sessionId);
    }
  }

  /**
   * A request's body must keep coming: Listen.IdleTimeout bounds a stalled upload. Once the
   * request is read, the answer may take longer than that: the upstream timeouts bound it.
   */
  private armRequestTimers(request: http.IncomingMessage): void {
    const { socket } = request;
    if (request.complete || !hasBody(request)) {
      if (socket.timeout) socket.setTimeout(0);
      return;
    }
    socket.setTimeout(this.engine.idleTimeoutMs);
    request.once('end', () => socket.setTimeout(0));
  }

  /**
   * Node's parse errors and header timeouts, answered with the status that names them, after
   * the answers the client is still owed for requests it pipelined before the bad one.
   */
  override onClientError(error: NodeJS.ErrnoException, socket: net.Socket): void {
    if (error.code === 'ECONNRESET' || !socket.writable) return;
    const [status, message] =
      error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'request head not complete within Listen.HeadersTimeout']
        : error.code === 'HPE_HEADER_OVERFLOW'
          ? [431, 'request head too large']
          : [400, `malformed request (${error.code ?? 'parse error'})`];
    afterEarlierAnswers(
      socket,
      () => this.sendSocketResponse(socket, status, {}, `${message}\n`),
      // The broken bytes were this request's own body: it is the one refused.
      (broken) => answerOrdered(broken, new RequestError(`malformed request body (${error.code ?? 'parse error'})`, 400), String(this.authRealm)),
    );
  }

  private async prepare(opts: PrepareRequestFunctionOpts): Promise<PrepareRequestFunctionResult> {
    const { clientAuth, ports } = this.engine;
    if (clientAuth && !clientAuth.matches(opts.username, opts.password)) {
      return { requestAuthentication: true, failMsg: 'Proxy login required' };
    }
    return { customTag: await ports.get(portOf(opts.request.socket)).current() };
  }

  private answerError(
    request: http.IncomingMessage,
    response: http.ServerResponse | undefined,
    error: unknown,
    kind: RequestKind,
    startedAt: number,
    sessionId?: string,
  ): void {
    const port = portOf(request.socket);
    const { observe } = this.engine;
    // startedAt is 0 once a tunnel's own close records it.
    if (observe && startedAt !== 0) {
      const host = kind === 'connect' ? request.url! : authorityOf(request.url!);
      observeRefusal({ port, kind, method: request.method!, host, startedAt, sessionId }, error, observe);
    }
    if (error instanceof StickyportError) {
      if (response) return fail(response, error, this.engine.log);
      this.engine.log.warn({ port, code: error.code, status: error.status }, error.message);
      error = new RequestError(`${error.message}\n`, error.status, { 'x-stickyport-error': error.code });
    } else if (!(error instanceof RequestError)) {
      // A bug: say where, answer 500 if nothing was sent, and keep serving.
      this.engine.log.error({ err: error, port }, 'BUG: unexpected error in a request path');
    }
    const normalized = this.normalizeHandlerError(error as NodeJS.ErrnoException);
    if (response) {
      answerOrdered(response, normalized, String(this.authRealm));
      return;
    }
    afterEarlierAnswers(request.socket, () => this.failRequest(request, normalized));
  }
}

/**
 * An error answer written through the request's own ServerResponse, so that it leaves after
 * the answers to requests pipelined before it, then the connection closes: a request refused
 * half-read leaves bytes on the connection that must not be read as the next request.
 */
function answerOrdered(response: http.ServerResponse, error: NodeJS.ErrnoException, realm: string): void {
  if (response.headersSent) {
    response.destroy();
    return;
  }
  const isRequestError = error instanceof RequestError;
  const status = isRequestError ? error.statusCode : 500;
  const body = `${isRequestError ? error.message.trimEnd() : 'internal error in stickyport'}\n`;
  const headers: Record<string, string | number> = {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    ...(isRequestError ? error.headers : {}),
  };
  if (status === 407 && headers['proxy-authenticate'] === undefined) headers['proxy-authenticate'] = `Basic realm="${realm}"`;
  response.shouldKeepAlive = false;
  response.writeHead(status, http.STATUS_CODES[status] ?? 'Error', headers);
  response.end(body);
}

type SocketWithAnswer = net.Socket & { _httpMessage?: http.ServerResponse | null };

/**
 * Resolves once every answer queued on the connection before `own` (or, without it, every
 * answer queued) has been written, or the connection closed.
 */
function earlierAnswersWritten(socket: net.Socket, own?: http.ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const check = (): void => {
      const earlier = (socket as SocketWithAnswer)._httpMessage;
      if (!earlier || earlier === own || earlier.writableFinished || socket.destroyed) return resolve();
      let called = false;
      const next = (): void => {
        if (called) return;
        called = true;
        // Node attaches the next queued answer to the socket as this one finishes.
        setImmediate(check);
      };
      earlier.once('finish', next);
      earlier.once('close', next);
    };
    check();
  });
}

/**
 * Runs `then` once every answer already queued on the connection has been written. An answer
 * whose request has not been read to its end yet can never be written (its body is what broke):
 * `broken` gets it instead.
 */
function afterEarlierAnswers(
  socket: net.Socket,
  then: () => void,
  broken: (response: http.ServerResponse) => void = () => socket.destroy(),
): void {
  const earlier = (socket as SocketWithAnswer)._httpMessage;
  if (!earlier || earlier.writableFinished || socket.destroyed) {
    then();
    return;
  }
  if (!earlier.req.complete) {
    broken(earlier);
    return;
  }
  let called = false;
  const next = (): void => {
    if (called) return;
    called = true;
    // Node attaches the next queued answer to the socket as this one finishes.
    setImmediate(() => afterEarlierAnswers(socket, then, broken));
  };
  earlier.once('finish', next);
  earlier.once('close', next);
}

/**
 * Node's header timer (408) and idle keep-alive sweep only run for a server that listens; this
 * one never does (the listener pool owns the sockets), so they are started by hand.
 */
function armServerTimers(server: http.Server, options: ProxyEngineOptions): void {
  server.headersTimeout = options.headersTimeoutMs;
  // Uploads and long answers are bounded by the upstream timeouts, not by the whole request.
  server.requestTimeout = 0;
  server.keepAliveTimeout = options.idleTimeoutMs;
  // Node keeps only the first 2 000 headers by default: a Content-Length after them would be
  // lost while the parser still frames the body by it. The 16 KiB head limit bounds the count.
  server.maxHeadersCount = 0;
  // Checked this often: a slow head gets its 408 within a second of the limit.
  (server as http.Server & { connectionsCheckingInterval: number }).connectionsCheckingInterval = Math.min(
    1_000,
    Math.max(50, Math.floor(options.headersTimeoutMs / 4)),
  );
  server.emit('listening');
}

function hasBody(request: http.IncomingMessage): boolean {
  const length = request.headers['content-length'];
  return (length !== undefined && length !== '0') || request.headers['transfer-encoding'] !== undefined;
}

function unbracket(hostname: string): string {
  return hostname.startsWith('[') ? hostname.slice(1, -1) : hostname;
}
