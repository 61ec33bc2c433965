import http from 'node:http';
import type net from 'node:net';
import type { Logger } from '../logging/logger.js';
import { UpstreamError, type StickyportError } from '../errors.js';
import { countBody, type BodyCount } from '../observe/body-count.js';
import { CLIENT_CLOSED, OK, observing, type Observe, type RequestRecord } from '../observe/request-record.js';
import type { BodyScan } from '../rotation/body-scan.js';
import type { PortRotation } from '../rotation/port-rotation.js';
import type { SessionParams } from '../session/parameters.js';
import { MAX_INTERIM_ANSWERS } from '../upstream/connect-handshake.js';
import { upstreamFailure, upstreamStatusFailure } from '../upstream/upstream-errors.js';
import { renderedAgain, RetiredBeforeSent, type DispatchHandler, type HttpTarget, type OutgoingRequest, type UpstreamRoute } from '../upstream/route.js';
import type { Drain, DrainEntry } from './drain.js';
import { MAX_HEADER_FIELDS, overFieldLimit } from './header-fields.js';
import { lingerOnClose } from './ordered-answers.js';
import { isOwnAnswerHeader, responseHeadersBack, trailerPairs, transferCodings } from './hop-headers.js';
import { portOf } from './listener-pool.js';
import { resetSocket } from '../ports/tunnel-cut.js';
import { joinSockets } from './tunnel.js';

export interface ForwardOptions {
  readonly log: Logger;
  readonly drain: Drain;
  /**
   * The way out for `target` at the moment of asking, by the port's session and host rules now:
   * a retry goes out on it, never on the route the first attempt used (`previous`), which a
   * rotation may have retired in between. `params`: the request's login parameters (a rotation to another
   * client's parameters is never taken for this request).
   */
  readonly currentRoute: (port: number, previous: UpstreamRoute, params: SessionParams | undefined, target: HttpTarget) => Promise<UpstreamRoute>;
  /** Told of each failure answered with an error (a pool member refusing connections counts them). */
  readonly upstreamFailed?: (port: number, route: UpstreamRoute, error: StickyportError) => void;
  /** Listen.IdleTimeout, for a WebSocket once switched. */
  readonly idleTimeoutMs: number;
  /** Receives each finished request (the request log, statistics, metrics); absent = none. */
  readonly observe?: Observe;
  /** SessionAPI.ExposeSessionHeader: relayed answers carry X-Stickyport-Session-Id. */
  readonly exposeSessionHeader?: boolean;
}

// RFC 9110 9.2.2; only these are resent after a connection broke before any answer byte.
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE']);
// Connection-level failures where the request may never have reached the upstream.
const RETRYABLE = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE']);
// The route was retired (its session rotated) before the request went out on it: nothing was
// sent, so any request goes out again, on the port's current route. (So does an upgrade that was
// waiting for a connection when it was retired: RetiredBeforeSent, from onConnect.)
const NEVER_SENT = new Set(['UND_ERR_CLOSED', 'UND_ERR_DESTROYED']);
// What an exchange is aborted with when its client went away first.
const CLIENT_LEFT = new Error('the client closed its connection');

/**
 * How much of an answer may wait for a slow client before the upstream is paused. Pausing at
 * the first refused write (16 KiB) let an answer of tiny chunks grow without bound: undici,
 * paused, puts the unparsed rest back on its socket, and its resume reads all of it plus a
 * fresh read of up to 64 KiB, of which a write refused again after a few 1-byte chunks took
 * only a few KiB (146 MB read ahead after 60 s, four clients reading as fast as they could).
 * Relaying at least this much per resume takes more than one read brings.
 */
const RELAY_BUFFER = 128 * 1024;

/**
 * Body pieces smaller than this are gathered and written to the client as one, once the read
 * that brought them is parsed (or GATHER_LIMIT is reached): each write costs Node four buffered
 * writes for a chunked answer, so an answer of 1-byte chunks held about 7 MB of write objects
 * per slow client within RELAY_BUFFER. Gathered, it holds the bytes.
 */
const SMALL_PIECE = 4 * 1024;
const GATHER_LIMIT = 64 * 1024;

/**
 * Plain HTTP through the port's session: the request goes out on the session's own undici
 * pool and the answer streams back with backpressure both ways. Whatever the upstream (or, on
 * the direct route, any website) answers, the client gets that answer relayed, or a 502/504
 * with a short reason and an `X-Stickyport-Error` code when it cannot be relayed and nothing
 * was sent yet, or a closed connection when the answer broke half way.
 */
export function forwardHttp(
  request: http.IncomingMessage,
  response: http.ServerResponse,
  target: HttpTarget,
  route: UpstreamRoute,
  outgoing: OutgoingRequest,
  options: ForwardOptions,
  /** The port's rotation rules, when the route carries its session and rules watch answers. */
  rules?: PortRotation,
  /** False for a bypassed host: the route carries no session. */
  carriesSession = true,
  /** The parameters of the request's login, for a second try on the port's route then. */
  params?: SessionParams,
): void {
  new Exchange(request, response, target, outgoing, options, rules, carriesSession, params).send(route);
}

interface PendingHead {
  readonly status: number;
  readonly reason: string;
  readonly headers: string[];
}

/**
 * One request's trip upstream, as the undici handler that receives the answer.
 *
 * The answer's head is written to the client only with its first body bytes, its end, or
 * HEAD_HOLD_MS after it came (a stream that pauses after its head still shows it at once, all
 * but). Until then a broken answer (bad chunk framing, a body where none may be, a close right
 * behind the head) is still a clean 502, and the head and the first bytes leave in one write.
 */
class Exchange implements DispatchHandler, DrainEntry {
  private route!: UpstreamRoute;
  private abort: ((error?: Error) => void) | undefined;
  private pending: PendingHead | undefined;
  /** The head is on its way to the client: from here a failure can only cut the connection. */
  private relaying = false;
  /** Answered (relayed to the end, or failed): later callbacks have nothing left to do. */
  private done = false;
  /** Requests sent so far; see mayRetry for when one more is allowed. */
  private attempts = 0;
  /** The upstream sent a byte of an answer to this attempt (undici: llhttp's message begin). */
  private answerStarted = false;
  /** This attempt's request, body included, has been written upstream. */
  private requestSent = false;
  /** Interim (1xx) answers to this attempt so far. */
  private interims = 0;
  /**
   * Armed once an interim (1xx) answer came and the request is written in full: undici
   * restarts its wait for the head at each interim one, so an upstream sending 102 every second
   * would hold the client forever. The final answer must follow within Upstream.ResponseTimeout.
   * (While the body still goes up, an interim answer such as 103 must not cut the upload.)
   */
  private interimTimer: NodeJS.Timeout | undefined = undefined;
  private resume: (() => void) | undefined;
  private drainListened = false;
  private clientDrained: (() => void) | undefined;
  /** Small body pieces of the read being parsed, written together (see SMALL_PIECE). */
  private gathered: Buffer[] | undefined = undefined;
  private gatheredBytes = 0;
  /** afterRead is queued for the end of the read being parsed (one call per read, not two). */
  private afterReadQueued = false;
  private readonly headers: string[];
  // What the request record says; measured only while something observes traffic.
  private readonly startedAt: number;
  /** The client's port, known at the start: the request lets go of its socket once answered. */
  private readonly port: number;
  private sentAt = 0;
  private headAt = 0;
  private bytesDown = 0;
  private readonly bodyCount: BodyCount | undefined;
  private outcome: string | undefined;
  private message: string | undefined;
  /** A WebSocket's client socket once switched, and its byte counts at that moment. */
  private switched: { readonly socket: net.Socket; readonly read: number; readonly written: number } | undefined;
  /** Looking for a rotation rule's marker in the answer's body. */
  private scan: BodyScan | undefined;
  /** A rotation rule is replacing the session: this attempt is dropped, the request goes again after it. */
  private ruleRetry: Promise<unknown> | undefined;
  private ruleRetried = false;
  // Links in the drain's list of answers not begun yet (drain.ts).
  drainPrev: DrainEntry | undefined = undefined;
  drainNext: DrainEntry | undefined = undefined;
  drainLinked = false;

  constructor(
    private readonly request: http.IncomingMessage,
    readonly response: http.ServerResponse,
    private readonly target: HttpTarget,
    private readonly outgoing: OutgoingRequest,
    private readonly options: ForwardOptions,
    private readonly rules: PortRotation | undefined,
    private readonly carriesSession: boolean,
    private readonly params: SessionParams | undefined,
  ) {
    // A route adds its own headers (the upstream login) to the list: keep the client's apart.
    this.headers = outgoing.headers;
    const observed = observing(options.observe);
    this.startedAt = observed ? performance.now() : 0;
    this.port = observed ? portOf(request.socket) : 0;
    this.bodyCount = observed && outgoing.body !== null ? countBody(request) : undefined;
    const closed = (): void => {
      options.drain.untrack(this);
      // Cut off before its end, or answered before its body was read in full (a 400 for a body
      // that stopped, an early 413): what is still on its way upstream is abandoned.
      if (!response.writableFinished || !request.complete) this.abort?.(CLIENT_LEFT);
      if (observed) options.observe!(this.record());
    };
    // The client may have gone while the request waited for its session (an async store, a
    // renewal): its 'close' is behind it and would never come. Not tracked then, and closed
    // once send() has run (onConnect aborts what it started).
    if (response.closed) {
      process.nextTick(closed);
      return;
    }
    options.drain.track(this);
    // 'on', not 'once': a response emits 'close' once, and once() wraps and binds per request.
    response.on('close', closed);
  }

  send(route: UpstreamRoute): void {
    this.route = route;
    if (this.attempts === 0 && this.startedAt !== 0) this.sentAt = performance.now();
    this.attempts++;
    this.answerStarted = false;
    this.requestSent = false;
    this.interims = 0;
    route.dispatch(this.target, { ...this.outgoing, headers: this.headers.slice() }, this);
  }

  /** undici is about to write the request on a connection: the last moment before the login leaves. */
  onConnect(abort: (error?: Error) => void): void {
    this.abort = abort;
    if (this.response.destroyed || this.done) return abort();
    // An upgrade whose port rotated while it waited in the pool for a connection (a graceful
    // close still sends what was queued): sent now on the old session, its 101 would be refused
    // (switched() is false) and the upgrade sent again on the new one, so the target would see
    // two handshakes. Nothing is written; onError sends it once, on the port's session. (Plain
    // requests go on the session they were sent for, as the README says: sending them again
    // under a storm of rotations would fail them after a few tries.)
    if (this.outgoing.upgrade !== undefined && this.carriesSession && this.route.retired) abort(new RetiredBeforeSent());
    // The same session's login rendered again (a reload's new password): any request still
    // waiting here goes out once more, on the session's new route, not with the old password.
    else if (renderedAgain.has(this.route)) abort(new RetiredBeforeSent());
  }

  /** The first byte of an answer: from here the request may have been acted on, it is not sent again. */
  onResponseStarted(): void {
    this.answerStarted = true;
  }

  onRequestSent(): void {
    this.requestSent = true;
    if (this.interims > 0) this.armInterimTimer();
  }

  onHeaders(status: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean {
    if (this.done) return true;
    // 1xx answers are for this hop (undici already refuses an unasked-for 100 or 101).
    if (status < 200) {
      // A handful is what any answer needs; an endless run of them kept a core busy until the
      // upstream timeout (and each may carry as many fields as an answer).
      if (++this.interims > MAX_INTERIM_ANSWERS) {
        this.fail(this.protocolError(`sent more than ${MAX_INTERIM_ANSWERS} interim (1xx) answers`));
        return false;
      }
      if (this.requestSent) this.armInterimTimer();
      return true;
    }
    this.stopInterimTimer();
    if (status === 407 && this.route.viaHttpProxy) {
      this.fail(upstreamStatusFailure(407, this.route.describePeer(this.target)));
      return false;
    }
    if (status > 599) {
      this.fail(this.protocolError(`answered with status ${status}, which is not HTTP`));
      return false;
    }
    // As many as a client may send (header-fields.ts): undici's 16 KiB limit counts names and
    // values only, so 16 000 empty fields passed and cost 14 times an answer's CPU.
    if (overFieldLimit(rawHeaders)) {
      this.fail(this.protocolError(`answered with more than ${MAX_HEADER_FIELDS} header fields`));
      return false;
    }
    const bodiless = status === 204 || status === 304 || this.outgoing.method === 'HEAD';
    const headers = responseHeadersBack(rawHeaders, status, bodiless);
    if (headers === undefined) {
      this.fail(this.protocolError(`answered with Transfer-Encoding ${transferCodings(rawHeaders)}: only chunked is relayed, a body in another coding would reach the client undecoded`));
      return false;
    }
    if (this.rules !== undefined) {
      const verdict = this.rules.answered(this.route, status, rawHeaders, this.mayRetryByRule(), bodiless);
      if (verdict instanceof Promise) return this.retryByRule(verdict);
      this.scan = verdict;
    }
    this.options.drain.untrack(this);
    if (this.startedAt !== 0) this.headAt = performance.now();
    if (this.options.exposeSessionHeader && this.carriesSession) headers.push('x-stickyport-session-id', this.route.sessionId);
    this.pending = { status, reason: asLatin1(statusText), headers };
    if (status === 204 || status === 304) {
      // No body, whatever Content-Length says: answered now. (undici would fail a 304 that
      // carries the representation's Content-Length, which RFC 9110 allows, as a length mismatch.)
      if (this.writeHead()) {
        this.done = true;
        this.response.end();
      }
      return true;
    }
    this.resume ??= resume;
    this.queueAfterRead();
    return true;
  }

  onData(chunk: Buffer): boolean {
    const scan = this.scan;
    if (scan !== undefined) {
      // A marker in the very read that brought the head: nothing was written yet, a retry is still possible.
      const retry = scan.feed(chunk, this.pending !== undefined && this.mayRetryByRule());
      if (retry !== undefined) return this.retryByRule(retry);
      if (scan.done) this.scan = undefined;
    }
    if (this.pending && !this.writeHead()) return false;
    if (this.done) return false;
    this.bytesDown += chunk.length;
    if (chunk.length < SMALL_PIECE || this.gathered !== undefined) {
      // Once gathering, every piece joins it: the bytes stay in order.
      if (this.gathered === undefined) {
        this.gathered = [chunk];
        this.queueAfterRead();
      } else {
        this.gathered.push(chunk);
      }
      this.gatheredBytes += chunk.length;
      if (this.gatheredBytes >= GATHER_LIMIT) this.writeGathered();
    } else if (this.response.write(chunk)) {
      return true;
    }
    // Paused only once RELAY_BUFFER is waiting for the client, not at the first refused write:
    // see RELAY_BUFFER.
    if (this.response.writableLength + this.gatheredBytes < RELAY_BUFFER) return true;
    return this.waitForClient();
  }

  /**
   * The client reads slower than the upstream sends: undici pauses until the client drained.
   * While it waits, the client's idle timer runs (it is off while an answer comes, which the
   * upstream timeouts bound, and they cannot fire while the relay waits for the client): a
   * client that takes nothing for Listen.IdleTimeout is cut off with the upstream request,
   * instead of holding both connections for good. Drained, the timer is off again, so an
   * upstream pausing mid-body afterwards is judged by the upstream timeouts alone.
   */
  private waitForClient(): false {
    this.response.socket?.setTimeout(this.options.idleTimeoutMs);
    // Listened for only once that happens: most answers never need it.
    if (!this.drainListened && this.resume) {
      this.drainListened = true;
      this.response.on('drain', (this.clientDrained ??= () => this.onClientDrain()));
    }
    return false;
  }

  private onClientDrain(): void {
    this.response.socket?.setTimeout(0);
    this.resume?.();
  }

  /**
   * Once the read being parsed is done: its small body pieces leave as one write, and a head
   * that came without body bytes is held (HEAD_HOLD_MS). One callback serves both:
   * a small answer, head and body in one read, costs one queued call, not two.
   */
  private queueAfterRead(): void {
    if (this.afterReadQueued) return;
    this.afterReadQueued = true;
    process.nextTick(afterRead, this, this.attempts);
  }

  /** The end of the read that queued it, for send number `attempt`. */
  readEnded(attempt: number): void {
    this.afterReadQueued = false;
    this.writeGathered();
    if (this.headPending(attempt)) setTimeout(holdOver, HEAD_HOLD_MS, this, attempt);
  }

  private writeGathered(): void {
    const gathered = this.gathered;
    if (gathered === undefined) return;
    this.gathered = undefined;
    const bytes = this.gatheredBytes;
    this.gatheredBytes = 0;
    // Cut meanwhile (the upstream failed half way, the client left): nothing more goes out.
    if (this.response.destroyed || this.response.writableEnded) return;
    this.response.write(gathered.length === 1 ? gathered[0]! : Buffer.concat(gathered, bytes));
  }

  // undici's types say string[]; client-h1 hands over the raw Buffers.
  onComplete(trailers: Array<Buffer | string> | null): void {
    const scan = this.scan;
    this.scan = undefined;
    // A rule that takes an answer once no marker was found may still retry one whose head is held.
    const retry = scan?.end(this.pending !== undefined && !this.done && this.mayRetryByRule());
    if (retry !== undefined) return this.retryCompleted(retry);
    if (this.done || (this.pending && !this.writeHead())) return;
    this.done = true;
    this.writeGathered();
    if (trailers && trailers.length > 0) {
      try {
        this.response.addTrailers(trailerPairs(trailers));
      } catch {
        // A trailer Node cannot write is dropped; the body itself is complete.
      }
    }
    // A compressed body's scan still decoding: the answer ends with its verdict (BodyScan.whenDone).
    if (scan !== undefined && !scan.done) return scan.whenDone(() => this.response.end());
    this.response.end();
  }

  onError(error: Error): void {
    this.stopInterimTimer();
    this.scan?.abandon();
    this.scan = undefined;
    // Our own abort, the client having gone: no failure of the upstream's (the record says CLIENT_CLOSED).
    if (error === CLIENT_LEFT) {
      this.done = true;
      return;
    }
    if (this.ruleRetry !== undefined) return this.sendAfterRotation();
    // Done, or answered by someone else (a 400 for a request body that did not parse).
    if (this.done || this.response.writableEnded) return;
    const { response } = this;
    // (A head still held back counts: it too passed llhttp's checks of the head.)
    if ((this.relaying || this.pending !== undefined) && framingFieldInTrailers(error)) return this.onComplete(null);
    if (this.relaying) {
      this.done = true;
      // Cut half way: counted under what cut it.
      if (this.startedAt !== 0) this.outcome = upstreamFailure(error, this.route.describePeer(this.target), 'answer').code;
      cutAnswer(response);
      return;
    }
    if (response.destroyed) return;
    // A head that was never written is simply dropped: the client gets the 502 instead.
    const answered = this.answerStarted || this.pending !== undefined;
    this.pending = undefined;
    if (!answered && this.mayRetry(error)) {
      this.options.currentRoute(portOf(this.request.socket), this.route, this.params, this.target).then(
        (route) => this.send(route),
        (routeError: unknown) => this.fail(upstreamFailure(routeError, this.route.describePeer(this.target))),
      );
      return;
    }
    this.fail(upstreamFailure(error, this.route.describePeer(this.target), this.outgoing.body !== null && !this.requestSent ? 'upload' : 'before'));
  }

  /** The upstream switched protocols (a WebSocket): pass its 101 on and join the two sockets. */
  onUpgrade(status: number, rawHeaders: Buffer[], upstream: net.Socket): void {
    this.stopInterimTimer();
    const client = this.response.socket;
    if (this.done || !client || client.destroyed) {
      upstream.destroy();
      return;
    }
    const tooMany = overFieldLimit(rawHeaders);
    const head = tooMany ? undefined : switchingHead(status, rawHeaders);
    if (head === undefined) {
      upstream.destroy();
      this.done = true;
      this.options.drain.untrack(this);
      const what = tooMany ? `more than ${MAX_HEADER_FIELDS} header fields` : 'a head that is not valid HTTP';
      fail(this.response, this.protocolError(`answered the upgrade with ${what}`), this.options.log);
      return;
    }
    if (this.outgoing.switched && !this.outgoing.switched(this.route)) {
      // The session rotated while the upgrade was on its way: that identity is gone. The client
      // got nothing yet: like a tunnel in the same spot (way-out.ts), the upgrade goes out once
      // more on the port's session now (a few times at most, then the connection is cut).
      upstream.destroy();
      if (this.attempts >= 3) {
        this.done = true;
        client.destroy();
        return;
      }
      this.options.currentRoute(portOf(client), this.route, this.params, this.target).then(
        (route) => {
          if (!this.response.destroyed && !this.done) this.send(route);
        },
        (routeError: unknown) => this.fail(upstreamFailure(routeError, this.route.describePeer(this.target))),
      );
      return;
    }
    this.done = true;
    this.options.drain.untrack(this);
    client.write(head);
    if (this.startedAt !== 0) this.switched = { socket: client, read: client.bytesRead, written: client.bytesWritten };
    joinSockets(client, upstream, this.options.idleTimeoutMs);
  }

  /** Writes the pending head; false (and a 502 instead) when Node refuses it as HTTP. */
  writeHead(): boolean {
    const head = this.pending;
    if (!head) return true;
    this.pending = undefined;
    // An answer that leaves before the request body was read (an early 413 or redirect) must
    // close the connection: the unread rest of the body would be taken for the next request.
    if (this.outgoing.body !== null && !this.request.complete) this.lastAnswer();
    try {
      this.response.writeHead(head.status, head.reason, head.headers);
    } catch (error) {
      // A control byte in the reason phrase, a header name that is not a token: nothing has
      // been sent, the client gets a 502.
      this.fail(this.protocolError(`answered with a head that is not valid HTTP (${(error as NodeJS.ErrnoException).code ?? 'invalid'})`));
      return false;
    }
    this.relaying = true;
    return true;
  }

  /** Only interim answers for Upstream.ResponseTimeout: a 504, and the connection goes. */
  interimTimedOut(): void {
    this.interimTimer = undefined;
    const peer = this.route.describePeer(this.target);
    // undici answers the abort with onError(error), synchronously: the client gets the 504.
    this.abort?.(new UpstreamError('UPSTREAM_TIMEOUT', `${peer} sent only interim (1xx) answers within Upstream.ResponseTimeout`));
  }

  private armInterimTimer(): void {
    this.interimTimer ??= setTimeout(interimTimedOut, this.route.timeouts.responseTimeoutMs, this);
  }

  private stopInterimTimer(): void {
    if (this.interimTimer === undefined) return;
    clearTimeout(this.interimTimer);
    this.interimTimer = undefined;
  }

  /** The head of send number `attempt` came without a body byte: it is still waiting to be written. */
  headPending(attempt: number): boolean {
    return this.pending !== undefined && !this.done && this.attempts === attempt;
  }

  /**
   * HEAD_HOLD_MS after the read that brought the head of send number `attempt`, and no body
   * byte yet: show the head now. (A head of a later send, after a rotate-and-retry, waits its own turn.)
   */
  flushPendingHead(attempt: number): void {
    if (!this.headPending(attempt)) return;
    if (this.writeHead()) this.response.flushHeaders();
  }

  /**
   * Once more, on the port's current route, when the request cannot have been acted on: it was
   * never sent (its route was retired first: up to 3 times), or it is idempotent, has no body
   * and the connection broke before any answer byte (once; RFC 9110 9.2.2).
   */
  private mayRetry(error: Error): boolean {
    const code = (error as NodeJS.ErrnoException).code ?? '';
    if (NEVER_SENT.has(code) || error instanceof RetiredBeforeSent) return this.attempts < 3;
    return this.attempts === 1 && RETRYABLE.has(code) && this.outgoing.body === null && IDEMPOTENT.has(this.outgoing.method);
  }

  /**
   * rotate-and-retry: an idempotent request without a body, sent once so far, whose answer has
   * not reached the client (not its head, not a byte).
   */
  private mayRetryByRule(): boolean {
    return !this.ruleRetried && this.outgoing.body === null && this.outgoing.upgrade === undefined && IDEMPOTENT.has(this.outgoing.method);
  }

  /** Drops this attempt (its answer is never relayed) and sends the request again once `rotation` settles. */
  private retryByRule(rotation: Promise<unknown>): false {
    this.dropAttempt(rotation);
    // undici calls onError at once, with the abort: sendAfterRotation goes on from there.
    this.abort?.();
    return false;
  }

  /** retryByRule for an answer undici has finished: nothing is left to abort (nor an onError to go on from). */
  private retryCompleted(rotation: Promise<unknown>): void {
    this.dropAttempt(rotation);
    this.sendAfterRotation();
  }

  private dropAttempt(rotation: Promise<unknown>): void {
    this.ruleRetry = rotation;
    this.ruleRetried = true;
    this.pending = undefined;
    if (this.clientDrained && this.drainListened) this.response.removeListener('drain', this.clientDrained);
    this.resume = undefined;
    this.drainListened = false;
    this.options.drain.track(this);
  }

  private sendAfterRotation(): void {
    const rotation = this.ruleRetry!;
    this.ruleRetry = undefined;
    if (this.response.destroyed) return;
    const previous = this.route;
    rotation
      .then(() => this.options.currentRoute(portOf(this.response.socket ?? this.request.socket), previous, this.params, this.target))
      .then(
        (route) => {
          if (!this.response.destroyed) this.send(route);
        },
        (routeError: unknown) => this.fail(upstreamFailure(routeError, previous.describePeer(this.target))),
      );
  }

  private protocolError(what: string): UpstreamError {
    return new UpstreamError('UPSTREAM_PROTOCOL', `${this.route.describePeer(this.target)} ${what}`);
  }

  /** The finished request as the request log, statistics and metrics see it. */
  private record(): RequestRecord {
    const { response, switched } = this;
    const status = switched ? 101 : response.headersSent ? response.statusCode : 0;
    return {
      port: this.port,
      kind: switched ? 'websocket' : 'http',
      method: this.outgoing.method,
      host: this.target.authority,
      path: this.target.path,
      sessionId: this.route.sessionId,
      status,
      outcome: this.outcome ?? this.outcomeWithoutFailure(status),
      message: this.message,
      bytesUp: switched ? switched.socket.bytesRead - switched.read : this.bodyCount?.bytes ?? 0,
      bytesDown: switched ? switched.socket.bytesWritten - switched.written : this.bytesDown,
      endedAt: Date.now(),
      durationMs: performance.now() - this.startedAt,
      upstreamMs: this.headAt === 0 ? undefined : this.headAt - this.sentAt,
    };
  }

  /** Nothing failed here: relayed in full, cut by the client, or answered by the engine or the drain. */
  private outcomeWithoutFailure(status: number): string {
    if (this.switched) return OK;
    if (!this.response.writableFinished) return CLIENT_CLOSED;
    if (this.relaying) return OK;
    if (status === 503 && this.options.drain.active) return 'STOPPING';
    return status === 400 ? 'BAD_REQUEST' : OK;
  }

  private fail(error: StickyportError): void {
    this.done = true;
    this.outcome = error.code;
    this.message = error.message;
    this.pending = undefined;
    this.abort?.(error);
    // The request's socket may be detached by now (an upload cut short): the response's is not.
    if (this.options.upstreamFailed && this.response.socket) this.options.upstreamFailed(portOf(this.response.socket), this.route, error);
    // A failure while the body still comes (the upstream reset mid-upload): the rest of the body
    // is read by no one (undici stopped reading it), so the connection cannot carry a next
    // request. The answer closes it, as an early answer does (writeHead).
    if (this.outgoing.body !== null && !this.request.complete) this.lastAnswer();
    fail(this.response, error, this.options.log);
  }

  /** The answer leaves before the request's body was read: the connection's last, closed lingering. */
  private lastAnswer(): void {
    this.response.shouldKeepAlive = false;
    lingerOnClose(this.response, this.options.idleTimeoutMs);
  }
}

/**
 * llhttp refuses a Content-Length among a chunked answer's trailers ("can't be present with
 * Transfer-Encoding"), which RFC 9110 6.5.1 has a recipient ignore. Met once the head was taken,
 * the head passed that check: it is the trailers', after the whole body was read.
 */
function framingFieldInTrailers(error: Error): boolean {
  return error.name === 'HTTPParserError' && error.message.includes("Content-Length can't be present with Transfer-Encoding");
}

// What may stand in a header line we write ourselves: no CR, LF or NUL.
const UNSAFE_HEAD_TEXT = /[\r\n\0]/;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** The 101 head as the client gets it, or undefined when a header could not be written safely. */
function switchingHead(status: number, rawHeaders: Buffer[]): string | undefined {
  let head = `HTTP/1.1 ${status} Switching Protocols\r\n`;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toString('latin1');
    const value = rawHeaders[i + 1]!.toString('latin1');
    if (!TOKEN.test(name) || UNSAFE_HEAD_TEXT.test(value)) return undefined;
    const lower = name.toLowerCase();
    // Connection and Upgrade are what a 101 is about; the other hop-by-hop headers stop here.
    if (lower === 'keep-alive' || lower === 'proxy-connection' || lower.startsWith('proxy-') || lower === 'transfer-encoding' || isOwnAnswerHeader(lower)) continue;
    head += `${name}: ${value}\r\n`;
  }
  return `${head}\r\n`;
}

function interimTimedOut(exchange: Exchange): void {
  exchange.interimTimedOut();
}

/**
 * End of the tick that brought a head or small body pieces. The pieces are written. Most heads
 * left with their first body bytes already; one that came alone is held for HEAD_HOLD_MS.
 */
function afterRead(exchange: Exchange, attempt: number): void {
  exchange.readEnded(attempt);
}

/**
 * How long a head that came without body bytes waits before it is written alone, so that a
 * failure right behind it is still a clean 502 instead of a 200 and a cut. A framing error later
 * in the same read has destroyed undici's socket, but undici tells onError only from that
 * socket's 'close', in the close phase of the turn. A FIN or reset sent with the head is read a
 * turn or more later (libuv stops reading a socket once a read does not fill its buffer), and
 * counting turns did not cover it: with two, a head owing a body and a FIN in the same write went
 * out as a 200 and a cut every time; with three or four, now and then, as the loop spun through
 * turns faster than the kernel handed over the FIN. A timer is not outrun: every 'close' read
 * before it fires comes first. A body byte arriving meanwhile takes the head along at once, so
 * only an answer whose body has not begun within this time shows its head this much later.
 */
const HEAD_HOLD_MS = 2;

function holdOver(exchange: Exchange, attempt: number): void {
  exchange.flushPendingHead(attempt);
}

/** undici decodes the reason phrase as UTF-8; Node writes header text as latin1: keep the bytes. */
function asLatin1(text: string): string {
  // eslint-disable-next-line no-control-regex
  return /[^\x00-\xff]/.test(text) ? Buffer.from(text, 'utf8').toString('latin1') : text;
}

/**
 * An answer that broke after its head left. A body the client reads up to the close (no
 * Content-Length, not chunked: an HTTP/1.0 client's) would take a FIN for its end: that
 * connection is reset, as a tunnel's is (tunnel-cut.ts). Any other is closed with a FIN, which
 * its framing shows as a cut: a reset would also throw away what the kernel still holds for
 * the client, such as a complete answer pipelined before this one and not read yet.
 */
function cutAnswer(response: http.ServerResponse): void {
  if (response.socket && bodyEndsAtClose(response)) resetSocket(response.socket);
  response.destroy();
}

/** Node's own record of the head it wrote (`_header`), read only when an answer is cut. */
function bodyEndsAtClose(response: http.ServerResponse): boolean {
  const head = (response as http.ServerResponse & { _header?: string | null })._header;
  return typeof head === 'string' && !response.chunkedEncoding && !/\r\ncontent-length:/i.test(head);
}

/** Answers `error` with its status and reason, or cuts the connection if the answer began. */
export function fail(response: http.ServerResponse, error: StickyportError, log: Logger): void {
  const port = response.socket ? portOf(response.socket) : undefined;
  if (error.status >= 500) log.warn({ port, code: error.code, status: error.status }, error.message);
  else log.info({ port, code: error.code, status: error.status }, error.message);
  if (response.writableEnded || response.destroyed) return;
  if (response.headersSent) {
    cutAnswer(response);
    return;
  }
  const body = `${error.message}\n`;
  // The reason is given: a refused upstream reason phrase may still sit in statusMessage.
  response.writeHead(error.status, http.STATUS_CODES[error.status] ?? 'Error', {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'x-stickyport-error': error.code,
  });
  response.end(body);
}
