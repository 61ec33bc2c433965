import type http from 'node:http';
import type net from 'node:net';
import { RequestError, Server, type PrepareRequestFunctionOpts, type PrepareRequestFunctionResult } from 'proxy-chain';
import type { ApiGateway } from '../api/api-gateway.js';
import { StickyportError } from '../errors.js';
import type { Logger } from '../logging/logger.js';
import type { HttpTarget, UpstreamRoute } from '../upstream/route.js';
import type { ClientAuth } from './client-auth.js';
import { fail, forwardHttp } from './forward.js';
import { portOf } from './listener-pool.js';
import type { PortRoutes } from './port-routes.js';
import { tunnel } from './tunnel.js';

export interface ProxyEngineOptions {
  readonly routes: PortRoutes;
  readonly api: ApiGateway | undefined;
  /** Set when Authentication.Required is on. */
  readonly clientAuth: ClientAuth | undefined;
  readonly log: Logger;
  /** Upstream.ResponseTimeout. */
  readonly responseTimeoutMs: number;
}

const RELATIVE_URL_HINT =
  'stickyport is a forward proxy: send absolute-URI requests through it, ' +
  'e.g. curl -x http://127.0.0.1:PORT http://example.com/';

/**
 * proxy-chain's Server is the engine: it parses requests and targets, reads the client's
 * proxy login, answers 400/407 and keeps the connection registry. Its prepareRequestFunction
 * is the one policy hook (client login, then the port's session route). The traffic paths are
 * stickyport's own: per-session keep-alive pools, and upstream failures answered as 502/504
 * with a reason instead of proxy-chain's 59x codes.
 */
export class ProxyEngine extends Server {
  constructor(private readonly engine: ProxyEngineOptions) {
    super({ verbose: false, authRealm: 'stickyport' });
    this.prepareRequestFunction = (opts) => this.prepare(opts);
  }

  /** Hands an accepted connection (from any port's listener) to the HTTP parser. */
  accept(socket: net.Socket): void {
    this.server.emit('connection', socket);
  }

  override async onRequest(request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
    try {
      const apiPath = this.engine.api?.match(request.url!);
      if (apiPath !== undefined) {
        await this.engine.api!.answer(request, response, apiPath, portOf(request.socket));
        return;
      }
      if (request.url![0] === '/') throw new RequestError(RELATIVE_URL_HINT, 400);
      const { trgParsed, customTag } = await this.prepareRequestHandling(request);
      if (this.engine.log.isLevelEnabled('debug')) {
        this.engine.log.debug({ port: portOf(request.socket), method: request.method, url: request.url }, 'request');
      }
      forwardHttp(request, response, httpTarget(trgParsed!, request.url!), customTag as UpstreamRoute, this.engine);
    } catch (error) {
      this.answerError(request, response, error);
    }
  }

  override async onConnect(request: http.IncomingMessage, socket: net.Socket, head: Buffer): Promise<void> {
    try {
      const hostname = unbracket(request.url!.slice(0, request.url!.lastIndexOf(':')));
      if (this.engine.api?.isApiHost(hostname)) {
        throw new RequestError(
          `the session API answers plain HTTP only: GET http://${hostname}/session/ through this port`,
          400,
        );
      }
      const { trgParsed, customTag } = await this.prepareRequestHandling(request);
      if (this.engine.log.isLevelEnabled('debug')) {
        this.engine.log.debug({ port: portOf(socket), method: 'CONNECT', url: request.url }, 'request');
      }
      await tunnel(socket, head, unbracket(trgParsed!.hostname), Number(trgParsed!.port), customTag as UpstreamRoute);
    } catch (error) {
      this.answerError(request, undefined, error);
    }
  }

  private async prepare(opts: PrepareRequestFunctionOpts): Promise<PrepareRequestFunctionResult> {
    const { clientAuth, routes } = this.engine;
    if (clientAuth && !clientAuth.matches(opts.username, opts.password)) {
      return { requestAuthentication: true, failMsg: 'Proxy login required' };
    }
    const { socket } = opts.request;
    return { customTag: await routes.routeFor(portOf(socket), socket) };
  }

  private answerError(request: http.IncomingMessage, response: http.ServerResponse | undefined, error: unknown): void {
    if (error instanceof StickyportError) {
      if (response) {
        fail(response, error, this.engine.log);
        return;
      }
      this.engine.log.warn({ port: portOf(request.socket), code: error.code, status: error.status }, error.message);
      this.failRequest(request, new RequestError(`${error.message}\n`, error.status, { 'x-stickyport-error': error.code }));
      return;
    }
    if (!(error instanceof RequestError)) {
      this.engine.log.error({ err: error, port: portOf(request.socket) }, 'request failed');
    }
    this.failRequest(request, this.normalizeHandlerError(error as NodeJS.ErrnoException));
  }
}

function httpTarget(parsed: URL, absoluteUrl: string): HttpTarget {
  return {
    hostname: unbracket(parsed.hostname),
    port: parsed.port === '' ? 80 : Number(parsed.port),
    absoluteUrl,
    path: `${parsed.pathname}${parsed.search}`,
  };
}

function unbracket(hostname: string): string {
  return hostname.startsWith('[') ? hostname.slice(1, -1) : hostname;
}
