import http from 'node:http';
import type net from 'node:net';
import { RequestError, Server, type PrepareRequestFunctionOpts, type PrepareRequestFunctionResult } from 'proxy-chain';
import { basicToken, proxyAuthorization } from '../auth/client-auth.js';
import { apiOffMessage, namesDomain, type ApiGateway } from '../api/api-gateway.js';
import { StickyportError, UpstreamError } from '../errors.js';
import type { Logger } from '../logging/logger.js';
import { authorityOf, connectAuthorityOf, observing, type Observe, type RequestKind } from '../observe/request-record.js';
import { observeClientGone, observeRefusal, observeTunnel } from '../observe/tunnel-record.js';
import type { Binding, PortState } from '../ports/port-state.js';
import type { Ports } from '../ports/ports.js';
import type { SessionParams } from '../session/parameters.js';
import type { HttpTarget, UpstreamRoute } from '../upstream/route.js';
import { hostForUrl } from '../upstream/upstream-url.js';
import { Drain, drainEntry } from './drain.js';
import { fail, forwardHttp, type ForwardOptions } from './forward.js';
import { readSessionControl } from './control-headers.js';
import { ACKNOWLEDGED } from '../store/session-store.js';
import { limitHeaderFields, TOO_MANY_FIELDS, tooManyFields } from './header-fields.js';
import { requestHeadersOut, unframeableRequest } from './hop-headers.js';
import { afterEarlierAnswers, answerOrdered, answersAhead, bodyStillComing, closeAfterAnswer, closeOnceAnswered, connectionEnding, lingerOnClose } from './ordered-answers.js';
import { httpTarget, plainTarget, withoutTargetCredentials, type TargetParse } from './http-target.js';
import { portOf } from './listener-pool.js';
import { ESTABLISHED, tunnel } from './tunnel.js';
import { canonicalHost } from './target-host.js';
import { openTunnelFor, wayOut } from './way-out.js';

export interface ProxyEngineOptions {
  readonly ports: Ports;
  readonly api: ApiGateway | undefined;
  readonly log: Logger;
  /** Listen.IdleTimeout: idle keep-alive connections and tunnels close after it. */
  readonly idleTimeoutMs: number;
  /** Listen.HeadersTimeout: a request head must be complete within it, else 408. */
  readonly headersTimeoutMs: number;
  /** Receives each finished request and tunnel (request log, statistics, metrics); absent = none. */
  readonly observe?: Observe;
  /** SessionAPI.ExposeSessionHeader. */
  readonly exposeSessionHeader?: boolean;
  /**
   * The per-request control headers are acted on (SessionAPI.Enabled); with `needsLogin`
   * (SessionAPI.Password set) only for a request carrying the mapping's proxy login.
   */
  readonly sessionControl?: { readonly needsLogin: boolean };
  /**
   * SessionAPI.Domain while the API is off: a request for that host is refused here, never sent
   * upstream (a Quick start's `http://portmapper/session/` went to the provider, billed, with
   * the session's login).
   */
  readonly apiOffDomain?: string;
}

/**
 * What prepare() chose for a request (proxy-chain's customTag): the binding it goes out on, and
 * the parameters it asked current() for, which a second try (a retry, a tunnel sent out again
 * after a rotation) asks for again.
 */
interface Chosen {
  readonly binding: Binding;
  readonly params: SessionParams | undefined;
}

/** A request as prepared: its target's host and port (plain HTTP only: plainTarget, else proxy-chain's parse), and the session chosen. */
interface Prepared {
  readonly trgParsed: TargetParse | undefined;
  readonly chosen: Chosen;
}

// Authority form only (RFC 9112 3.2.3): no user info, path or query, a port from 1 to 65535.
const CONNECT_TARGET = /^(\[[0-9A-Fa-f:.]+\]|[^\s/?#@[\]:]+):(\d{1,5})$/;
const BAD_CONNECT_TARGET = 'a CONNECT target is host:port, with a port from 1 to 65535 and nothing else';
const BAD_CONNECT_HOST = 'the CONNECT target\'s host is not a host name or address (an empty label, a character no host may hold, or over 253 characters)';
// proxy-chain's words (prepareRequestFunction's failMsg) for a request without the required login.
const LOGIN_REQUIRED = 'Proxy login required';
/** A Basic login whose Base64 is not written the one canonical way, or two logins (auth/client-auth.ts). */
const NOT_CANONICAL = 'Proxy-Authorization: one Basic login, Base64 of user:password, written canonically (RFC 4648: A-Z a-z 0-9 + /, "=" only at the end)';

// proxy-chain's words for a Proxy-Authorization it cannot read.
const UNREADABLE_LOGIN = /"Proxy-Authorization" header/;
const NO_HOST = 'an HTTP/1.1 request must carry a Host header (RFC 9112 3.2): send Host: the host of its URL';
const RELATIVE_URL_HINT =
  'stickyport is a forward proxy: send absolute-URI requests through it, ' +
  'e.g. curl -x http://127.0.0.1:PORT http://example.com/';

/**
 * proxy-chain's Server is the engine: it parses requests and targets, reads the client's
 * proxy login, answers 400/407 and keeps the connection registry. Its prepareRequestFunction
 * is the one policy hook (the mapping's client login and its parameters, then the port's
 * session); host rules are applied by way-out.ts once the target is known. The traffic paths are
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
      exposeSessionHeader: engine.exposeSessionHeader,
      // A reload may take the port out while a request on it waits for its answer.
      currentRoute: async (port, previous, params, target) => {
        const state = engine.ports.served(port);
        if (!state) throw new StickyportError('STOPPING', `port ${port} is no longer served (a reload took it out): nothing more was sent`, { status: 503 });
        // The way out is decided again, by the host rules running now: a reload between the two
        // tries may have denied the host or given its rule another upstream (a Deny is a 403).
        const binding = await state.current(params);
        const asked = target.asked ?? target;
        const way = wayOut(state, binding, asked.hostname, asked.port, engine.log);
        // Where it goes, and whether it carries the session (a Bypass does not), were set for the
        // first try (the answer's session header, a WebSocket's binding): a change is not followed.
        if (way.hostname !== target.hostname || way.port !== target.port || way.bound === state.mapping.isBypass(previous)) {
          throw new UpstreamError('UPSTREAM_RESET', `the request was not sent again: a reload changed where the host rules send ${hostForUrl(asked.hostname)}:${asked.port} since its first try`);
        }
        return way.route;
      },
      upstreamFailed: (port, route, error) => engine.ports.served(port)?.upstreamFailed(route, error),
    };
    armServerTimers(this.server, engine);
    // Node answers an HTTP/1.1 request without Host with a 400 of its own, behind stickyport's
    // back: a request pipelined after it was forwarded once the answer before that 400 was out,
    // though the client had been told the connection closes. onRequest refuses it instead, in
    // turn, and what follows is dropped as after any closing 400.
    (this.server as http.Server & { requireHostHeader: boolean }).requireHostHeader = false;
    // `Expect: 100-continue`: Node's server sends "100 Continue" as soon as it has the head,
    // before anything was decided, so a client refused (a 407 for want of a login, a 403, a 400)
    // sent its whole body first. The 100 now goes out only once the request is being forwarded
    // (continueIfAsked); a refusal goes out in its place and the client sends no body (RFC 9110 10.1.1).
    this.server.on('checkContinue', (request: http.IncomingMessage, response: http.ServerResponse) => {
      awaitingContinue.add(response);
      this.server.emit('request', request, response);
    });
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
    const startedAt = observing(this.engine.observe) ? performance.now() : 0;
    try {
      // Pipelined requests are taken one at a time: each waits until the answers before it are
      // written. Otherwise one connection pipelining hundreds of requests would open hundreds
      // of upstream connections at once, past every connection limit.
      const turn = answersAhead(request.socket, response);
      if (turn) await turn;
      if (connectionEnding(request.socket, response)) return;
      if (tooManyFields(request)) throw new RequestError(TOO_MANY_FIELDS, 431);
      // RFC 9112 3.2: an HTTP/1.1 request without Host is a 400 (Node's check, off: see the constructor).
      if (hostMissing(request)) throw new RequestError(NO_HOST, 400);
      this.armRequestTimers(request, response);
      const url = request.url!;
      const apiPath = this.engine.api?.match(url);
      if (apiPath !== undefined) {
        // `/session/?ip=1` waits for an echo answer through the upstream, as a forwarded request
        // waits for its answer: a stop that outlasts it answers 503 STOPPING, not a bare close.
        // Inline, not Drain.whileAnswering: its wrapper (a closure and one more promise per
        // call) raised the peak memory of 60 000 pipelined API calls from 65 to 85 MB
        // (test/regression/pipelined-flood-memory.test.ts).
        const waiting = drainEntry(response);
        this.drain.track(waiting);
        try {
          await this.engine.api!.answer(request, response, apiPath, portOf(request.socket));
        } finally {
          this.drain.untrack(waiting);
        }
        return;
      }
      if (url[0] === '/') throw new RequestError(RELATIVE_URL_HINT, 400);
      const state = this.engine.ports.get(portOf(request.socket));
      if (state.policy.config.rejectHttpProxy) throw httpRejected(state);
      const unframeable = unframeableRequest(request);
      if (unframeable) throw new RequestError(`cannot forward a request with ${unframeable}`, 400);
      let prepared = this.prepared(request, state);
      if (prepared instanceof Promise) prepared = await prepared;
      const target = httpTarget(url, prepared.trgParsed!);
      // The API's host spelled another way (`portmapper.`, with user info or port 080) is no
      // target either: it must not leave for the upstream.
      this.refuseApiHost(target.hostname, 'http');
      if (this.engine.log.isLevelEnabled('debug')) {
        this.engine.log.debug({ port: state.port, method: request.method, host: target.authority }, 'request');
      }
      const outgoing = {
        method: request.method!,
        headers: requestHeadersOut(request.rawHeaders, target),
        body: hasBody(request) ? request : null,
      };
      const { binding, params } = prepared.chosen;
      // The answer will name its session (ExposeSessionHeader): only once that survives a crash,
      // as the session API names one (a file store saves a session traffic made a moment later).
      // A disk that fails is logged by the store and never fails traffic.
      if (this.engine.exposeSessionHeader) await state.durable().catch(() => undefined);
      const book = state.policy.rotation;
      const rules = book?.watchesAnswers ? book.forPort(state) : undefined;
      if (state.policy.rules.size === 0) {
        continueIfAsked(response);
        forwardHttp(request, response, target, binding.route, outgoing, this.forwarding, rules, true, params);
        return;
      }
      const way = wayOut(state, binding, target.hostname, target.port, this.engine.log);
      continueIfAsked(response);
      forwardHttp(request, response, retarget(target, way.hostname, way.port), way.route, outgoing, this.forwarding, way.bound ? rules : undefined, way.bound, params);
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
    const startedAt = observing(this.engine.observe) ? performance.now() : 0;
    // The bytes read past the head go back on the socket at once: after a wait the client's FIN
    // may have ended the stream, and unshifting then is an error that destroys the socket.
    if (head.length > 0) socket.unshift(head);
    // An answer to a request pipelined before this one may still own the socket.
    const turn = answersAhead(socket);
    if (turn) await turn;
    if (connectionEnding(socket)) return;
    // Node hands the socket over with no response object: make one, for ordered error answers.
    const response = new http.ServerResponse(request);
    response.shouldKeepAlive = false;
    response.assignSocket(socket);
    closeOnceAnswered(response, this.engine.idleTimeoutMs);
    try {
      if (tooManyFields(request)) throw new RequestError(TOO_MANY_FIELDS, 431);
      // As for a plain request (Node checks neither upgrades nor CONNECTs; a CONNECT's target is its authority).
      if (hostMissing(request)) throw new RequestError(NO_HOST, 400);
      if (socket.timeout) socket.setTimeout(0);
      const url = request.url!;
      if (url[0] === '/' || this.engine.api?.match(url) !== undefined) throw new RequestError(RELATIVE_URL_HINT, 400);
      // Node hands an upgrade over at the end of its head: a body would go out as the first
      // bytes after the switch, not as the request's body. (A WebSocket handshake has none.)
      if (hasBody(request)) throw new RequestError('an upgrade request with a body cannot be forwarded', 400);
      const state = this.engine.ports.get(portOf(socket));
      if (state.policy.config.rejectHttpProxy) throw httpRejected(state);
      let prepared = this.prepared(request, state);
      if (prepared instanceof Promise) prepared = await prepared;
      const target = httpTarget(url, prepared.trgParsed!);
      this.refuseApiHost(target.hostname, 'http');
      const { binding, params } = prepared.chosen;
      const way = wayOut(state, binding, target.hostname, target.port, this.engine.log);
      const outgoing = {
        method: request.method!,
        headers: requestHeadersOut(request.rawHeaders, target),
        body: null,
        upgrade: request.headers.upgrade!,
        // Bound when switched, to the session of the route it went out on at last (a retry goes
        // on the port's current one); a rotation that landed meanwhile closes it straight away.
        switched: (route: UpstreamRoute) => !way.bound || state.bindTunnelOn(route, socket),
      };
      forwardHttp(request, response, retarget(target, way.hostname, way.port), way.route, outgoing, this.forwarding, undefined, true, params);
    } catch (error) {
      this.answerError(request, response, error, 'websocket', startedAt);
    }
  }

  override async onConnect(request: http.IncomingMessage, socket: net.Socket, head: Buffer): Promise<void> {
    const { observe } = this.engine;
    const observed = observing(observe);
    let startedAt = observed ? performance.now() : 0;
    let sessionId: string | undefined;
    try {
      // A CONNECT pipelined behind other requests waits for their answers like any request: its
      // session is chosen after theirs (a /session/new before it counts), and its 200 and the
      // tunnel's bytes never come before or between their answers.
      const turn = answersAhead(socket);
      if (turn) await turn;
      if (connectionEnding(socket)) return;
      if (tooManyFields(request)) throw new RequestError(TOO_MANY_FIELDS, 431);
      // Opening the tunnel may take up to Upstream.ConnectTimeout; the tunnel re-arms the idle timer.
      if (socket.timeout) socket.setTimeout(0);
      const authority = CONNECT_TARGET.exec(request.url!);
      const port = Number(authority?.[2] ?? 0);
      if (port < 1 || port > 65_535) throw new RequestError(BAD_CONNECT_TARGET, 400);
      // One spelling of the host for host rules and the private-target check, as plain HTTP has.
      const hostname = canonicalHost(authority![1]!);
      if (hostname === undefined) throw new RequestError(BAD_CONNECT_HOST, 400);
      const state = this.engine.ports.get(portOf(socket));
      // The API's host in any spelling (`PORTMAPPER`, `portmapper.`, `%70ortmapper`): the
      // canonical host is lower case and decoded, and the domain is matched with a trailing dot.
      // Refused before a session is chosen (nothing to choose one for), but a client that sent
      // no login where one is required gets 407 first, as for plain HTTP.
      this.refuseApiHost(hostname, 'connect', !request.headers['proxy-authorization'] && state.policy.login.required);
      let prepared = this.prepared(request, state, false);
      if (prepared instanceof Promise) prepared = await prepared;
      if (this.engine.log.isLevelEnabled('debug')) {
        this.engine.log.debug({ port: state.port, method: 'CONNECT', host: connectAuthorityOf(request.url!) }, 'request');
      }
      const { binding, params } = prepared.chosen;
      sessionId = binding.session.id;
      const opened = await openTunnelFor(state, binding, socket, hostname, port, this.engine.log, this.drain, params);
      if (!opened) {
        if (observed) connectClientGone(request, startedAt, sessionId, observe);
        return;
      }
      if (observed) {
        // The session it was bound to: a rotation while it opened may have sent it out on a new one.
        const start = { port: state.port, kind: 'connect' as const, host: connectAuthorityOf(request.url!), sessionId: state.session?.id ?? sessionId, startedAt, openedAt: performance.now() };
        observeTunnel(socket, head, ESTABLISHED.length, start, observe);
        // The tunnel's close records it from here on.
        sessionId = undefined;
        startedAt = 0;
      }
      await tunnel(socket, head, opened, this.engine.idleTimeoutMs);
    } catch (error) {
      // Gone before its tunnel opened: what failed then was answered to no one.
      if (socket.destroyed && observed && startedAt !== 0) {
        connectClientGone(request, startedAt, sessionId, observe);
        startedAt = 0;
      }
      this.answerError(request, undefined, error, 'connect', startedAt, sessionId);
    }
  }

  /**
   * Throws the refusal of a request for the session API's host as a target (it never leaves
   * for the upstream): with the API on, the spelling to use (plain HTTP on port 80); with it
   * off, that it is off. `loginMissing`: a login is required and none came (407 first).
   */
  private refuseApiHost(hostname: string, kind: 'http' | 'connect', loginMissing = false): void {
    const { api, apiOffDomain } = this.engine;
    const domain = api ? api.domain : apiOffDomain;
    if (domain === undefined || !namesDomain(domain, hostname)) return;
    if (loginMissing) throw new RequestError(LOGIN_REQUIRED, 407);
    if (!api) throw new RequestError(apiOffMessage(domain), 404);
    throw new RequestError(
      kind === 'http'
        ? `the session API answers as http://${domain}/session/ with no user info and no port other than 80: nothing was sent upstream`
        : `the session API answers plain HTTP only: GET http://${hostname}/session/ through this port`,
      400,
    );
  }

  /**
   * A request's body must keep coming: Listen.IdleTimeout bounds a stalled upload. Once the
   * request is read, the answer may take longer than that: the upstream timeouts bound it.
   */
  private armRequestTimers(request: http.IncomingMessage, response: http.ServerResponse): void {
    const { socket } = request;
    if (request.complete || !hasBody(request)) {
      if (socket.timeout) socket.setTimeout(0);
      return;
    }
    socket.setTimeout(this.engine.idleTimeoutMs);
    // Not once the answer is out (an upstream's early answer, the rest of the body read and
    // dropped after it): Node has set the keep-alive timer by then, and clearing it left an
    // idle connection open for good.
    request.once('end', () => {
      if (!response.writableFinished) socket.setTimeout(0);
    });
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
      // Not after an answer that closed the connection (a 400 for the request before the bytes
      // that broke): the client was told that was the last one.
      () => connectionEnding(socket) || this.sendSocketResponse(socket, status, {}, `${message}\n`),
      // The broken bytes were this request's own body: it is the one refused, unless it was
      // answered already (a 405, an upstream's early answer): one answer, then the close.
      (broken) =>
        broken.writableEnded
          ? closeOnceAnswered(broken, this.engine.idleTimeoutMs)
          : answerOrdered(broken, new RequestError(`malformed request body (${error.code ?? 'parse error'})`, 400), String(this.authRealm)),
    );
  }

  /**
   * proxy-chain's last answer on a connection (a request that does not parse, a refused
   * CONNECT): it ends our side and arms a 1 s idle timer, which a client trickling bytes would
   * hold off for good, keeping its connection slot. What the client sends after it is read and
   * dropped, and a fixed deadline cuts the connection, as after a refused upgrade.
   */
  override sendSocketResponse(socket: net.Socket, statusCode?: number, headers?: {}, message?: string): void {
    super.sendSocketResponse(socket, statusCode, headers, message);
    closeAfterAnswer(socket, this.engine.idleTimeoutMs);
  }

  /**
   * proxy-chain's preparation of a request: its parse of the target (getHandlerOpts: 400 for a
   * target it cannot parse), then the login it reads from Proxy-Authorization and the session
   * chosen for it (prepare). A request without a Proxy-Authorization header, on a port that asks
   * for no login, has no login to read: choose() is called at once, without the three promises
   * of prepareRequestHandling (about 5 % of a plain request's CPU; every other request, and
   * every 407, goes through proxy-chain's own path).
   */
  private prepared(request: http.IncomingMessage, state: PortState, parseTarget = true): Prepared | Promise<Prepared> {
    if (!request.headers['proxy-authorization']) {
      const verdict = state.policy.login.check('', '');
      if (verdict.ok) {
        // A CONNECT's target is read by onConnect itself (canonicalHost): no second parse. A
        // plain target as URL writes it needs no parse either (plainTarget).
        const trgParsed = parseTarget ? (plainTarget(request.url!) ?? this.getHandlerOpts(request).trgParsed!) : undefined;
        const chosen = this.choose(state, request, verdict.params, '', '');
        return chosen instanceof Promise ? chosen.then((c) => ({ trgParsed, chosen: c })) : { trgParsed, chosen };
      }
    }
    return this.prepareRequestHandling(request).then(
      ({ trgParsed, customTag }) => ({ trgParsed: trgParsed ?? undefined, chosen: customTag as Chosen }),
      (error: unknown) => {
        // proxy-chain answers a login it cannot read (not Basic, no user:password) with a 400;
        // where a login is required that is a wrong login: 407, with the Basic challenge.
        if (state.policy.login.required && error instanceof RequestError && error.statusCode === 400 && UNREADABLE_LOGIN.test(error.message)) {
          throw new RequestError('Proxy login required: send Proxy-Authorization: Basic base64(user:password)', 407);
        }
        throw error;
      },
    );
  }

  /** proxy-chain's prepareRequestFunction: the client's login (407 without it), then choose(). */
  private async prepare(opts: PrepareRequestFunctionOpts): Promise<PrepareRequestFunctionResult> {
    const state = this.engine.ports.get(portOf(opts.request.socket));
    // proxy-chain decodes Base64 leniently; a login not in its canonical form is refused as
    // proxy-chain refuses one it cannot read: 407 where a login is required, else 400.
    if (basicToken(proxyAuthorization(opts.request)) === undefined) {
      if (state.policy.login.required) return { requestAuthentication: true, failMsg: LOGIN_REQUIRED };
      throw new RequestError(NOT_CANONICAL, 400);
    }
    // A login carrying malformed parameters throws BAD_PARAMETER (400): nothing goes upstream.
    const verdict = state.policy.login.check(opts.username, opts.password);
    if (!verdict.ok) return { requestAuthentication: true, failMsg: LOGIN_REQUIRED };
    return { customTag: await this.choose(state, opts.request, verdict.params, opts.username, opts.password) };
  }

  /**
   * Which parameters a request's session is asked for (PortState.current() picks the session):
   * its login's, or, with X-Stickyport-Session headers, the request's own (after a renewal if it
   * asks for one).
   */
  private choose(state: PortState, request: http.IncomingMessage, loginParams: SessionParams | undefined, username: string, password: string): Chosen | Promise<Chosen> {
    const control = this.engine.sessionControl && readSessionControl(request, state.policy.declared);
    if (!control) return chosenFor(state, loginParams);
    if (this.engine.sessionControl!.needsLogin && !state.policy.login.matchesLogin({ username, password })) {
      const instead = state.policy.login.hasLogin
        ? ''
        : ' (this port has no client login, so they are off on it: use the session API with ?pwd=...)';
      throw new StickyportError('CONTROL_FORBIDDEN', `X-Stickyport-Session headers need the proxy login while SessionAPI.Password is set${instead}: nothing was sent`, { status: 403 });
    }
    // The request's own parameters win over its login's; both are whole sets.
    const params = control.params ?? loginParams;
    // As /session/new: refused while the store cannot make it durable (ChangeOptions).
    if (control.renew) return state.renew(params, ACKNOWLEDGED).then(() => chosenFor(state, params));
    return chosenFor(state, params);
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
      const host = kind === 'connect' ? connectAuthorityOf(request.url!) : authorityOf(request.url!);
      observeRefusal({ port, kind, method: request.method!, host, startedAt, sessionId }, error, observe);
    }
    if (error instanceof StickyportError) {
      if (response) return fail(response, error, this.engine.log);
      this.engine.log.warn({ port, code: error.code, status: error.status }, error.message);
      error = new RequestError(`${error.message}\n`, error.status, { 'x-stickyport-error': error.code });
    } else if (error instanceof RequestError) {
      error = withoutTargetCredentials(error);
    } else {
      // A bug: say where, answer 500 if nothing was sent, and keep serving.
      this.engine.log.error({ err: error, port }, 'BUG: unexpected error in a request path');
    }
    const normalized = this.normalizeHandlerError(error as NodeJS.ErrnoException);
    if (response) {
      // A refusal of an upload (a 407 before its body was read) closes lingering (lingerOnClose).
      if (bodyStillComing(request)) lingerOnClose(response, this.engine.idleTimeoutMs);
      answerOrdered(response, normalized, String(this.authRealm));
      return;
    }
    afterEarlierAnswers(request.socket, () => this.failRequest(request, normalized));
  }
}

/** An HTTP/1.1 request (or one of a later version llhttp reads as such, `HTTP/2.0`) without Host. */
function hostMissing(request: http.IncomingMessage): boolean {
  return request.headers.host === undefined && (request.httpVersionMajor > 1 || (request.httpVersionMajor === 1 && request.httpVersionMinor >= 1));
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
  limitHeaderFields(server);
  // Checked this often: a slow head gets its 408 within a second of the limit.
  (server as http.Server & { connectionsCheckingInterval: number }).connectionsCheckingInterval = Math.min(
    1_000,
    Math.max(50, Math.floor(options.headersTimeoutMs / 4)),
  );
  server.emit('listening');
}

/** The port's session for `params`, in use from now on: at once when the port already has it. */
function chosenFor(state: PortState, params: SessionParams | undefined): Chosen | Promise<Chosen> {
  const binding = state.take(params);
  return binding instanceof Promise ? binding.then((taken) => ({ binding: taken, params })) : { binding, params };
}

/** Records a CONNECT whose client left before its tunnel opened: nothing was answered to anyone. */
function connectClientGone(request: http.IncomingMessage, startedAt: number, sessionId: string | undefined, observe: Observe): void {
  const host = connectAuthorityOf(request.url!);
  observeClientGone({ port: portOf(request.socket), kind: 'connect', method: 'CONNECT', host, startedAt, sessionId }, observe);
}

function httpRejected(state: PortState): StickyportError {
  const where = state.policy.config.source ? `${state.policy.config.source}.Listen.RejectHttpProxy` : 'Listen.RejectHttpProxy';
  return new StickyportError('HTTP_REJECTED', `port ${state.port} takes CONNECT only (${where}): send HTTPS, or use another port`, { status: 403 });
}

/** `target` sent to hostname:port instead (a host rule's override): the Host header stays the client's. */
function retarget(target: HttpTarget, hostname: string, port: number): HttpTarget {
  if (hostname === target.hostname && port === target.port) return target;
  return { ...target, hostname, port, absoluteUrl: `http://${hostForUrl(hostname)}:${port}${target.path}`, asked: { hostname: target.hostname, port: target.port } };
}

/** Answers whose request said `Expect: 100-continue`, until they send their 100 (see the constructor). */
const awaitingContinue = new WeakSet<http.ServerResponse>();

/** The request is being forwarded: a client waiting for "100 Continue" gets it now and sends its body. */
function continueIfAsked(response: http.ServerResponse): void {
  if (awaitingContinue.delete(response)) response.writeContinue();
}

function hasBody(request: http.IncomingMessage): boolean {
  const length = request.headers['content-length'];
  return (length !== undefined && length !== '0') || request.headers['transfer-encoding'] !== undefined;
}
