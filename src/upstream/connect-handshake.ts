import { UpstreamError } from '../errors.js';
import { connectTimeout, upstreamFailure, upstreamStatusFailure } from './upstream-errors.js';
import { RetiredBeforeSent } from './route.js';
import type { UpstreamReads } from './upstream-reads.js';

// An answer head longer than this is not a proxy speaking HTTP.
const MAX_ANSWER_HEAD_BYTES = 16 * 1024;
const END_OF_HEAD = Buffer.from('\r\n\r\n');
const LF = 0x0a;
const CR = 0x0d;
// Three digits and then a space or the end of the line: "HTTP/1.1 2000" is not a 200.
const STATUS_LINE = /^HTTP\/1\.[01] (\d{3})(?: |\r|$)/;

export interface ConnectRequest {
  /** "host:port" of the target, as the request line and Host header carry it. */
  readonly authority: string;
  readonly proxyAuthorization: string | undefined;
  readonly timeoutMs: number;
  /** "upstream proxy host:port", for error messages. */
  readonly peer: string;
  /**
   * The socket's event after which a write leaves at once ('connect', or 'secureConnect' for
   * TLS): the CONNECT is written then, not queued while connecting. Absent: written now.
   */
  readonly readyEvent?: 'connect' | 'secureConnect';
  /** Asked right before the CONNECT (with the session's login) is written; false: nothing is sent. */
  readonly stillCarries?: () => boolean;
}

/**
 * Interim (1xx) answers taken before the real one, to a CONNECT or a forwarded request; one more
 * is a failure. An endless run of them kept a core busy until the upstream timeout.
 */
export const MAX_INTERIM_ANSWERS = 16;

/**
 * Asks an HTTP proxy for a tunnel over `reads.socket` (connecting or connected) and resolves
 * once it answers 200. The bytes after the answer's head stay held in `reads` for the tunnel.
 * Any other answer, a failure or no answer within `timeoutMs` rejects with the UpstreamError
 * to give the client; the socket is then destroyed.
 */
export function connectThroughProxy(reads: UpstreamReads, request: ConnectRequest): Promise<void> {
  const { socket } = reads;
  return new Promise((resolve, reject) => {
    // The answer so far: buffer[start, length), appended in place, the buffer doubled when full
    // (a head dripped a byte at a time was copied whole, and scanned whole, on every read).
    // `checked`: how much of it was scanned already.
    let buffer = Buffer.alloc(0);
    let start = 0;
    let length = 0;
    let checked = 0;
    let settled = false;
    let sent = false;
    let interims = 0;
    const settle = (error?: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.removeListener('error', onError);
      socket.removeListener('close', onClose);
      if (error) {
        socket.destroy();
        reject(error);
      } else {
        resolve();
      }
    };
    const timer = setTimeout(() => {
      const { peer, timeoutMs } = request;
      settle(sent ? new UpstreamError('UPSTREAM_TIMEOUT', `${peer} did not answer the CONNECT within ${timeoutMs} ms`) : connectTimeout(peer, timeoutMs));
    }, request.timeoutMs);
    const onError = (error: Error): void => settle(upstreamFailure(error, request.peer));
    const onClose = (): void =>
      settle(new UpstreamError('UPSTREAM_RESET', `${request.peer} closed the connection before answering`));
    socket.once('error', onError);
    socket.once('close', onClose);

    reads.take((chunk) => {
      if (length + chunk.length > buffer.length) {
        const grown = Buffer.allocUnsafe(Math.max(2 * (length - start), length - start + chunk.length, 256));
        buffer.copy(grown, 0, start, length);
        length -= start;
        start = 0;
        buffer = grown;
      }
      chunk.copy(buffer, length);
      length += chunk.length;
      // Interim answers (100, 103) may come first, several in one read: skip to the real one.
      for (;;) {
        const answer = buffer.subarray(start, length);
        // From a little before the new bytes: a CRLF CRLF, or a CR's LF, may straddle two reads.
        const end = answer.indexOf(END_OF_HEAD, Math.max(0, checked - 3));
        // A line ending in LF alone (or a CR alone): llhttp refuses it on the plain-HTTP path,
        // and waiting for a CRLF CRLF that may never come would turn the answer into a timeout.
        const bare = bareLineEnd(answer, end < 0 ? answer.length : end, Math.max(0, checked - 1));
        if (bare === LF) {
          settle(new UpstreamError('UPSTREAM_STATUS', `${request.peer} answered the CONNECT with something other than HTTP (lines ending in LF alone)`));
          return false;
        }
        // Judged as the bytes come, not once a CRLF CRLF arrives: a peer that greets in another
        // protocol (an SMTP banner, a TLS record) and waits would otherwise hold the client
        // until Upstream.ConnectTimeout for an answer that is already wrong.
        if (bare === CR || !couldStartStatusLine(answer)) {
          settle(new UpstreamError('UPSTREAM_STATUS', `${request.peer} answered the CONNECT with something other than HTTP`));
          return false;
        }
        // Checked on a complete head too: one that arrives in a single read is no smaller.
        if (end > MAX_ANSWER_HEAD_BYTES || (end < 0 && answer.length > MAX_ANSWER_HEAD_BYTES)) {
          settle(new UpstreamError('UPSTREAM_STATUS', `${request.peer} sent an answer head over ${MAX_ANSWER_HEAD_BYTES} bytes`));
          return false;
        }
        if (end < 0) {
          checked = answer.length;
          return true;
        }
        const status = Number(STATUS_LINE.exec(answer.toString('latin1', 0, Math.min(end + 2, 32)))?.[1] ?? 0);
        if (status >= 100 && status < 200 && status !== 101) {
          if (++interims > MAX_INTERIM_ANSWERS) {
            settle(new UpstreamError('UPSTREAM_STATUS', `${request.peer} sent more than ${MAX_INTERIM_ANSWERS} interim (1xx) answers to the CONNECT`));
            return false;
          }
          start += end + END_OF_HEAD.length;
          checked = 0;
          continue;
        }
        if (status === 0) {
          settle(new UpstreamError('UPSTREAM_STATUS', `${request.peer} answered the CONNECT with something other than HTTP`));
        } else if (status !== 200) {
          settle(upstreamStatusFailure(status, request.peer));
        } else {
          reads.hold(answer.subarray(end + END_OF_HEAD.length));
          settle();
          // Reading stops until the relay takes over: an end of stream read before then would
          // be emitted before the tunnel listens for it (keeping on reading spared two system
          // calls per tunnel, too little to measure, for that gap).
        }
        return false;
      }
    });

    const auth = request.proxyAuthorization ? `Proxy-Authorization: ${request.proxyAuthorization}\r\n` : '';
    const send = (): void => {
      if (settled) return;
      // The port rotated while the connection came up: the old login never leaves.
      if (request.stillCarries && !request.stillCarries()) return settle(new RetiredBeforeSent());
      sent = true;
      socket.write(`CONNECT ${request.authority} HTTP/1.1\r\nHost: ${request.authority}\r\n${auth}\r\n`);
    };
    if (request.readyEvent) socket.once(request.readyEvent, send);
    else send();
  });
}

// What the first bytes of a status line may be, position by position: "HTTP/1.", 0 or 1, a space,
// three digits, then a space or the CR of a line with no reason phrase.
const STATUS_LINE_START = ['H', 'T', 'T', 'P', '/', '1', '.', '01', ' ', '0123456789', '0123456789', '0123456789', ' \r'];

/** Whether `bytes` (maybe only a few of them so far) can still be the start of a status line. */
function couldStartStatusLine(bytes: Buffer): boolean {
  const length = Math.min(bytes.length, STATUS_LINE_START.length);
  for (let i = 0; i < length; i++) if (!STATUS_LINE_START[i]!.includes(String.fromCharCode(bytes[i]!))) return false;
  return true;
}

/**
 * A line end in the first `length` bytes of `bytes` that is not CRLF: an LF without its CR (LF,
 * said first), or a CR followed by anything but LF (CR; a last CR may still await its LF). From
 * `from` on: the bytes before it were scanned on an earlier read.
 */
function bareLineEnd(bytes: Buffer, length: number, from: number): typeof CR | typeof LF | undefined {
  for (let at = bytes.indexOf(LF, from); at >= 0 && at < length; at = bytes.indexOf(LF, at + 1)) {
    if (at === 0 || bytes[at - 1] !== CR) return LF;
  }
  for (let at = bytes.indexOf(CR, from); at >= 0 && at < length; at = bytes.indexOf(CR, at + 1)) {
    if (at + 1 < bytes.length && bytes[at + 1] !== LF) return CR;
  }
  return undefined;
}
