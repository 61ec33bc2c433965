import http from 'node:http';
import type net from 'node:net';
import { RequestError } from 'proxy-chain';

// Answers on a connection leave in the order their requests came, whatever went wrong with a
// later one: an error for a request pipelined behind others waits for their answers, and a
// request whose own body broke is the one refused.

/**
 * An error answer written through the request's own ServerResponse, so that it leaves after
 * the answers to requests pipelined before it, then the connection closes: a request refused
 * half-read leaves bytes on the connection that must not be read as the next request.
 */
export function answerOrdered(response: http.ServerResponse, error: NodeJS.ErrnoException, realm: string): void {
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

/** Node's own fields: the answer that owns the connection now, and whether it is the last. */
export type SocketWithAnswer = net.Socket & { _httpMessage?: (http.ServerResponse & { _last?: boolean }) | null };

// The answer to the latest request on a connection, so that the next one waits on it alone.
const kLastAnswer = Symbol('stickyport.lastAnswer');
// The connection's close, one promise for all its waiting requests.
const kClosed = Symbol('stickyport.closed');
// How many of the connection's requests wait for their turn now.
const kWaiting = Symbol('stickyport.waiting');
// The bytes of the heads of the connection's requests waiting for their turn now.
const kWaitingBytes = Symbol('stickyport.waitingBytes');
// Whether the connection has the listener that keeps it stopped while too many wait.
const kHeld = Symbol('stickyport.held');
type TurnSocket = SocketWithAnswer & {
  [kLastAnswer]?: http.ServerResponse;
  [kClosed]?: Promise<void>;
  [kWaiting]?: number;
  [kWaitingBytes]?: number;
  [kHeld]?: boolean;
  /** Node's mark that the server stopped reading the connection; its own read restarts skip it. */
  _paused?: boolean;
  parser?: { pause(): void; resume(): void } | null;
};

/**
 * Requests a connection may have waiting for their turn before it is read no further: each
 * waiting request is a parsed request and its answer object in memory, and a client that
 * pipelines without reading its answers would otherwise pile up millions of them (the process
 * ran out of memory). Node bounds only answers already written; this bounds the ones not yet
 * begun, as Squid's pipeline_prefetch does. Past it, the rest stays in the kernel's buffers and
 * the client's writes block: TCP's own backpressure. Reading resumes at half of it.
 */
const MAX_WAITING_PER_CONNECTION = 64;

/**
 * The same bound in bytes of request heads (URL, header names and values): 64 heads of 16 KiB,
 * parsed, held 1.4 MB per connection, and a client may open thousands of connections. Past
 * this the connection is read no further either; one head of any size still gets through.
 */
const MAX_WAITING_HEAD_BYTES = 64 * 1024;

/**
 * Requests waiting past a connection's bound, in the whole process. Node parses a whole read
 * before the connection can be stopped, and one 64 KiB read holds some 2 000 tiny heads: each
 * waiting costs a few KB (Node's request and answer objects, the wait), so a connection that
 * sent one such burst and read nothing held 7 MB, and 111 of them ran a 256 MB heap out. What
 * reads carry past the bounds is shared by every connection up to this many requests (about
 * 60 MB); a connection whose request finds it spent is closed at once (its requests before it
 * unanswered: no client waits for that many answers without reading). A single client
 * pipelining deeply still gets every answer, in order.
 */
const MAX_PAST_BOUND = 16_384;
let pastBound = 0;

/**
 * The wait for this request's turn on its connection: a promise while the answer to the request
 * before it is still being written, undefined when there is none (no tick is lost then). Each
 * request waits on the one before it only, so a pipeline of n requests costs n wake-ups, not
 * n²/2. Called as the request arrives (requests arrive in order); `own`: its answer, if it has
 * one (a CONNECT or an upgrade has none, and nothing follows them on the connection).
 */
export function answersAhead(socket: net.Socket, own?: http.ServerResponse): Promise<void> | undefined {
  const turns = socket as TurnSocket;
  const previous = turns[kLastAnswer];
  if (own !== undefined) turns[kLastAnswer] = own;
  else if (turns[kHeld]) handOver(turns);
  if (previous === undefined || previous === own || previous.writableFinished || socket.destroyed) return undefined;
  const past = (turns[kWaiting] ?? 0) >= MAX_WAITING_PER_CONNECTION;
  if (past && pastBound >= MAX_PAST_BOUND) {
    socket.destroy();
    return undefined;
  }
  turns[kWaiting] = (turns[kWaiting] ?? 0) + 1;
  const bytes = own === undefined ? 0 : headBytes(own.req);
  turns[kWaitingBytes] = (turns[kWaitingBytes] ?? 0) + bytes;
  // Never for a CONNECT or an upgrade: the connection is its tunnel's from now on.
  if (own !== undefined && tooManyWaiting(turns)) holdReading(turns);
  if (past) pastBound++;
  return afterAnswer(turns, previous, bytes, past);
}

async function afterAnswer(socket: TurnSocket, previous: http.ServerResponse, bytes: number, past: boolean): Promise<void> {
  try {
    await Promise.race([answerDone(previous), (socket[kClosed] ??= new Promise((resolve) => socket.once('close', resolve)))]);
    // Node attaches the next queued answer to the socket as one finishes.
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    if (past) pastBound--;
    socket[kWaiting]! -= 1;
    socket[kWaitingBytes]! -= bytes;
    // Read again at half of both bounds (resumeReading does nothing unless it is stopped).
    if (socket[kWaiting]! <= MAX_WAITING_PER_CONNECTION >> 1 && socket[kWaitingBytes]! <= MAX_WAITING_HEAD_BYTES >> 1) resumeReading(socket);
  }
}

function tooManyWaiting(socket: TurnSocket): boolean {
  return (socket[kWaiting] ?? 0) >= MAX_WAITING_PER_CONNECTION || (socket[kWaitingBytes] ?? 0) >= MAX_WAITING_HEAD_BYTES;
}

/** A request head's size as Node's 16 KiB limit counts it: the URL, header names and values. */
function headBytes(request: http.IncomingMessage): number {
  let bytes = request.url?.length ?? 0;
  const raw = request.rawHeaders;
  for (let i = 0; i < raw.length; i++) bytes += raw[i]!.length;
  return bytes;
}

/**
 * Stops reading the connection the way Node's server does when its written answers back up:
 * `_paused` makes Node's own read restarts (after each parsed request) leave it stopped, and
 * Node pauses its parser once the bytes in hand are parsed. The connection is first taken off
 * the parser's direct reads (Node does so for any 'data' listener): read that way, bytes that
 * still arrived went into the paused parser and broke it (HPE_PAUSED, the pipeline lost); read
 * through the stream, a paused socket hands the parser nothing. Node's drain of the connection
 * clears the mark and resumes; the 'resume' that follows stops it again while too many wait.
 */
function holdReading(socket: TurnSocket): void {
  if (!socket[kHeld]) {
    socket[kHeld] = true;
    socket.on('data', readThroughStream);
    socket.on('resume', keepHeld);
  }
  socket._paused = true;
  socket.pause();
}

function keepHeld(this: TurnSocket): void {
  if (!tooManyWaiting(this) || this._paused) return;
  this._paused = true;
  this.pause();
}

/** Node's own 'data' listener feeds the parser; this one only moves the socket to stream reads. */
function readThroughStream(): void {}

/**
 * A CONNECT or an upgrade takes a held connection over (Node has let it go, unread): its tunnel
 * reads it once its turn comes. Node's mark would have Node's drain resume it meanwhile (the
 * answers before it still flush), and bytes the client sent ahead of the 200 would then go to
 * the listener above alone, and be lost.
 */
function handOver(socket: TurnSocket): void {
  socket[kHeld] = false;
  socket._paused = false;
  socket.removeListener('data', readThroughStream);
  socket.removeListener('resume', keepHeld);
}

/** Reads the connection again, as Node's drain does; not while Node itself holds it for answers not yet flushed. */
function resumeReading(socket: TurnSocket): void {
  if (!socket._paused || socket.destroyed || socket.writableNeedDrain) return;
  socket._paused = false;
  socket.parser?.resume();
  socket.resume();
}

/**
 * The connection closes, or will once what is written has left: an answer before this request
 * ended it (an error answer, `Connection: close`). The request is dropped unanswered and never
 * goes upstream: after that answer the client reads nothing more on this connection.
 */
export function connectionEnding(socket: net.Socket, own?: http.ServerResponse): boolean {
  if (socket.destroyed || !socket.writable) return true;
  // An answer whose bytes are all out counts as written (writableFinished) before its 'finish',
  // where Node ends the connection: `_last` is Node's mark that it will.
  const earlier = (socket as SocketWithAnswer)._httpMessage;
  return earlier !== null && earlier !== undefined && earlier !== own && earlier._last === true;
}

/** An answer's end: 'finish', or 'close' when it was cut. */
function answerDone(answer: http.ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    answer.once('finish', resolve);
    answer.once('close', resolve);
  });
}

/**
 * Runs `then` once every answer already queued on the connection has been written. When the
 * bytes that broke were the latest request's own body (not read to its end), that request's
 * answer goes to `broken` instead, whether it is still owed or already given.
 */
export function afterEarlierAnswers(
  socket: net.Socket,
  then: () => void,
  broken: (response: http.ServerResponse) => void = () => socket.destroy(),
): void {
  // Only the latest request can have a body in progress: its head parsed, the parser in its body.
  const last = (socket as TurnSocket)[kLastAnswer];
  if (last !== undefined && !last.req.complete && !socket.destroyed) {
    broken(last);
    return;
  }
  // The latest answer, when it is still owed: answers leave in order, so once it is out every
  // one before it is too. Node's own `_httpMessage` is only the one on the socket now: an answer
  // written at once (the admin server's) is finished while the next still waits in Node's
  // queue, and the refusal would have gone out before it.
  const owed = last !== undefined && !last.writableFinished && !last.destroyed ? last : undefined;
  const earlier = owed ?? (socket as SocketWithAnswer)._httpMessage;
  if (!earlier || earlier.writableFinished || socket.destroyed) {
    then();
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

/** Connections answered and closing (closeAfterAnswer): a stop need not wait for them. */
const lingering = new WeakSet<net.Socket>();

/**
 * After a connection's last answer: our side ends, what the client still sends is read and
 * dropped (a paused socket would never see its FIN, and the listener keeps half-open sockets;
 * a close with unread bytes would reset the connection under the answer), and a client that
 * has not closed `deadlineMs` later is cut: a fixed deadline, not an idle timer, which a client
 * trickling bytes would hold off for good.
 */
export function closeAfterAnswer(socket: net.Socket, deadlineMs: number): void {
  socket.end();
  socket.resume();
  const deadline = setTimeout(() => socket.destroy(), deadlineMs);
  lingering.add(socket);
  socket.once('close', () => clearTimeout(deadline));
}

/**
 * True for a connection that only reads and drops what its client still sends after its last
 * answer: a stop cuts it at once (one held a SIGTERM for the whole drain time, 2 s).
 */
export function isLingering(socket: net.Socket): boolean {
  return lingering.has(socket);
}

/**
 * The connection's close after `response`, its last answer, given before its request's body was
 * read in full (a refusal, an upstream's early answer or failure, an API answer to a call sent
 * with a body): the answer and a FIN first, then what the client still sends read and dropped
 * until it closes or `deadlineMs` pass (RFC 9112 9.6's lingering close). Closed at once, the
 * socket's unread bytes made the kernel reset the connection, which can destroy the answer
 * before the client reads it: wget, still writing its upload, stopped at the failed write and
 * never showed the 502 or 407.
 */
export function lingerOnClose(response: http.ServerResponse, deadlineMs: number): void {
  const socket = response.socket;
  if (!socket) return;
  // Node's server ends a connection after its last answer with destroySoon (resOnFinish). Only
  // such connections get the override: no property is added to the common socket.
  socket.destroySoon = () => closeAfterAnswer(socket, deadlineMs);
}

/**
 * The request has a body that is not read in full yet. (`complete` alone says false for any
 * request whose handler runs as its head arrives, before Node marks even a bodiless one done.)
 */
export function bodyStillComing(request: http.IncomingMessage): boolean {
  if (request.complete) return false;
  const length = request.headers['content-length'];
  return (length !== undefined && length !== '0') || request.headers['transfer-encoding'] !== undefined;
}

/**
 * Calls `then` with whether the request's body is still coming, once Node has parsed what it
 * already holds: a body that came in the same read as its head is parsed only after the
 * handler and its microtasks ran, so asked at once it looked unread (and the connection of an
 * answer written then was closed). Synchronous for a request without a body.
 */
export function whenBodyKnown(request: http.IncomingMessage, then: (stillComing: boolean) => void): void {
  if (!bodyStillComing(request)) return then(false);
  setImmediate(() => then(bodyStillComing(request)));
}

/**
 * A request answered before its body was read (a 405, an upstream's early answer) whose body
 * then did not parse: it had its one answer, so it gets no second one; the connection closes
 * once that answer is out.
 */
export function closeOnceAnswered(response: http.ServerResponse, deadlineMs: number): void {
  const { socket } = response.req;
  if (response.writableFinished) closeAfterAnswer(socket, deadlineMs);
  else response.once('finish', () => closeAfterAnswer(socket, deadlineMs));
}
