import http from 'node:http';
import type net from 'node:net';
import type { ApiGateway } from '../api/api-gateway.js';
import type { Logger } from '../logging/logger.js';
import type { Drain } from '../proxy/drain.js';
import { limitHeaderFields, TOO_MANY_FIELDS, tooManyFields } from '../proxy/header-fields.js';
import { portOf } from '../proxy/listener-pool.js';
import { refuseBroken, refuseConnectInTurn } from '../proxy/json-refusals.js';
import { answersAhead, connectionEnding } from '../proxy/ordered-answers.js';
import type { Login } from './socks-handshake.js';

export interface SocksApiOptions {
  readonly headersTimeoutMs: number;
  readonly idleTimeoutMs: number;
}

const NO_CONNECT = { error: 'method_not_allowed', message: 'the session API answers GET only' };
const NOT_API = JSON.stringify({
  error: 'not_found',
  message: 'only the session API answers here: GET /session/, /session/reset or /session/new',
});

/**
 * The session API inside a SOCKS CONNECT to its virtual host (`portmapper:80`), as
 * ProxyMapService offers it: the client then speaks plain HTTP to the API as if it were a web
 * server (`GET /session/`, origin form; the absolute form works too). The port the SOCKS
 * connection came in on is the session it is about, and the SOCKS5 login (if any) counts as the
 * proxy login. An HTTP server of its own parses the requests: these connections never reach
 * the proxy engine or an upstream.
 */
export class SocksApi {
  private readonly server: http.Server;
  private readonly logins = new WeakMap<net.Socket, Login>();

  constructor(
    private readonly gateway: ApiGateway,
    options: SocksApiOptions,
    private readonly log: Logger,
    /**
     * The proxy's drain: idle API connections close when it begins, and a `/session/?ip=1` still
     * waiting for its echo when it ends gets its 503, as over HTTP.
     */
    private readonly drain: Drain,
  ) {
    this.server = http.createServer((request, response) => void this.answer(request, response));
    // A CONNECT inside the API's connection is a method the API does not take: 405, as over HTTP.
    this.server.on('connect', (_request: http.IncomingMessage, socket: net.Socket) =>
      refuseConnectInTurn(socket, 405, NO_CONNECT, options.idleTimeoutMs, 'allow: GET\r\n'),
    );
    // Bytes that do not parse (more after a Connection: close, a broken body): the answers to
    // the calls before them still go out, then the refusal (Node's own would cut them off).
    this.server.on('clientError', (error: NodeJS.ErrnoException, socket: net.Socket) => refuseBroken(error, socket, options.idleTimeoutMs));
    this.server.headersTimeout = options.headersTimeoutMs;
    limitHeaderFields(this.server);
    this.server.requestTimeout = 0;
    this.server.keepAliveTimeout = options.idleTimeoutMs;
    // Node starts its header timer for servers that listen; this one is handed sockets instead.
    // Checked as often as the engine checks its own (a slow head gets its 408 within a second).
    (this.server as http.Server & { connectionsCheckingInterval: number }).connectionsCheckingInterval = Math.min(
      1_000,
      Math.max(50, Math.floor(options.headersTimeoutMs / 4)),
    );
    this.server.emit('listening');
    drain.alsoFor(this.server);
  }

  /** True for the API's virtual host (never when the API answers on the port itself). */
  isApiHost(host: string): boolean {
    return this.gateway.isApiHost(host);
  }

  /** Takes over a SOCKS connection to the API host, once granted; `head` is what followed the request. */
  accept(socket: net.Socket, head: Buffer, login: Login | undefined, granted: Buffer): void {
    if (login) this.logins.set(socket, login);
    // The HTTP server brings its own timeout and error handling.
    socket.removeAllListeners('timeout');
    socket.write(granted);
    if (head.length > 0) socket.unshift(head);
    this.server.emit('connection', socket);
    socket.resume();
  }

  close(): void {
    this.server.closeAllConnections();
    this.server.close(() => undefined);
  }

  private async answer(request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
    try {
      // Pipelined calls are answered one at a time, in order, as through the engine: a
      // /session/ behind a /session/new must see the new id.
      const turn = answersAhead(request.socket, response);
      if (turn) await turn;
      if (connectionEnding(request.socket, response)) return;
      if (tooManyFields(request)) {
        const body = JSON.stringify({ error: 'head_too_large', message: TOO_MANY_FIELDS });
        response.shouldKeepAlive = false;
        response.writeHead(431, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
        response.end(body);
        return;
      }
      const url = request.url!;
      const path = url[0] === '/' ? url : this.gateway.match(url);
      if (path === undefined) {
        response.writeHead(404, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(NOT_API) });
        response.end(NOT_API);
        return;
      }
      await this.drain.whileAnswering(response, () => this.gateway.answer(request, response, path, portOf(request.socket), this.logins.get(request.socket)));
    } catch (error) {
      this.log.error({ err: error, port: portOf(request.socket) }, 'BUG: unexpected error in the session API through SOCKS');
      response.destroy();
    }
  }
}

