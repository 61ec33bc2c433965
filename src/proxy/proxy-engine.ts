import type http from 'node:http';
import type net from 'node:net';
import { RequestError, Server, type PrepareRequestFunctionOpts, type PrepareRequestFunctionResult } from 'proxy-chain';
import type { ApiGateway } from '../api/api-gateway.js';
import type { ClientAuth } from '../auth/client-auth.js';
import { StickyportError } from '../errors.js';
import type { Logger } from '../logging/logger.js';
import type { Binding } from '../ports/port-state.js';
import type { Ports } from '../ports/ports.js';
import { Drain } from './drain.js';
import { fail, forwardHttp, type ForwardOptions } from './forward.js';
import { requestHeadersOut } from './hop-headers.js';
import { httpTarget } from './http-target.js';
import { portOf } from './listener-pool.js';
import { tunnel } from './tunnel.js';

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
      currentRoute: async (port) => (await engine.ports.get(port).current()).route,
    };
    armServerTimers(this.server, engine);
  }

  /** Hands an accepted connection (from any port's listener) to the HTTP parser. */
  accept(socket: net.Socket): void {
    this.server.emit('connection', socket);
  }

  override async onRequest(request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
    try {
      // The answer may take longer than Listen.IdleTimeout: the upstream timeouts bound it.
      if (request.socket.timeout) request.socket.setTimeout(0);
      const url = request.url!;
      const apiPath = this.engine.api?.match(url);
      if (apiPath !== undefined) {
        await this.engine.api!.answer(request, response, apiPath, portOf(request.socket));
        return;
      }
      if (url[0] === '/') throw new RequestError(RELATIVE_URL_HINT, 400);
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
      this.answerError(request, response, error);
    }
  }

  override async onConnect(request: http.IncomingMessage, socket: net.Socket, head: Buffer): Promise<void> {
    try {
      // Opening the tunnel may take up to Upstream.ConnectTimeout; the tunnel re-arms the idle timer.
      if (socket.timeout) socket.setTimeout(0);
      const hostname = unbracket(request.url!.slice(0, request.url!.lastIndexOf(':')));
      if (this.engine.api?.isApiHost(hostname)) {
        throw new RequestError(
          `the session API answers plain HTTP only: GET http://${hostname}/session/ through this port`,
          400,
        );
      }
      const { trgParsed, customTag } = await this.prepareRequestHandling(request);
      if (this.engine.log.isLevelEnabled('debug')) {
        this.engine.log.debug({ port: portOf(socket), method: 'CONNECT', host: request.url }, 'request');
      }
      const state = this.engine.ports.get(portOf(socket));
      let binding = customTag as Binding;
      // A rotation may have retired the session while the request was being prepared.
      while (!state.bindTunnel(binding, socket)) binding = await state.current();
      await tunnel(socket, head, unbracket(trgParsed!.hostname), Number(trgParsed!.port), binding.route, this.engine.idleTimeoutMs);
    } catch (error) {
      this.answerError(request, undefined, error);
    }
  }

  /** Node's parse errors and header timeouts, answered with the status that names them. */
  override onClientError(error: NodeJS.ErrnoException, socket: net.Socket): void {
    if (error.code === 'ECONNRESET' || !socket.writable) return;
    switch (error.code) {
      case 'ERR_HTTP_REQUEST_TIMEOUT':
        this.sendSocketResponse(socket, 408, {}, `request head not complete within Listen.HeadersTimeout\n`);
        return;
      case 'HPE_HEADER_OVERFLOW':
        this.sendSocketResponse(socket, 431, {}, 'request head too large\n');
        return;
      default:
        this.sendSocketResponse(socket, 400, {}, `malformed request (${error.code ?? 'parse error'})\n`);
    }
  }

  private async prepare(opts: PrepareRequestFunctionOpts): Promise<PrepareRequestFunctionResult> {
    const { clientAuth, ports } = this.engine;
    if (clientAuth && !clientAuth.matches(opts.username, opts.password)) {
      return { requestAuthentication: true, failMsg: 'Proxy login required' };
    }
    return { customTag: await ports.get(portOf(opts.request.socket)).current() };
  }

  private answerError(request: http.IncomingMessage, response: http.ServerResponse | undefined, error: unknown): void {
    const port = portOf(request.socket);
    if (error instanceof StickyportError) {
      if (response) return fail(response, error, this.engine.log);
      this.engine.log.warn({ port, code: error.code, status: error.status }, error.message);
      this.failRequest(request, new RequestError(`${error.message}\n`, error.status, { 'x-stickyport-error': error.code }));
      return;
    }
    if (!(error instanceof RequestError)) {
      // A bug: say where, answer 500 if nothing was sent, and keep serving.
      this.engine.log.error({ err: error, port }, 'BUG: unexpected error in a request path');
      if (response?.headersSent) {
        response.destroy();
        return;
      }
    }
    this.failRequest(request, this.normalizeHandlerError(error as NodeJS.ErrnoException));
  }
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
