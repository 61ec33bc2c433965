import type net from 'node:net';
import { StickyportError, type ErrorCode } from '../errors.js';
import { REPLY, SOCKS4_REJECTED, socks4Reply, socks5Reply } from './socks-protocol.js';
import { closeAfterAnswer } from '../proxy/ordered-answers.js';

/**
 * The SOCKS5 reply code for a failure, by its stickyport error code: the same failures an
 * HTTP client gets as 502/504/403, told in SOCKS terms. SOCKS4 has one failure code (0x5B).
 */
export function socks5ReplyCode(code: ErrorCode): number {
  switch (code) {
    case 'UPSTREAM_REFUSED':
      return REPLY.refused;
    case 'UPSTREAM_UNREACHABLE':
      return REPLY.hostUnreachable;
    case 'UPSTREAM_TIMEOUT':
      return REPLY.ttlExpired;
    case 'TARGET_FORBIDDEN':
    case 'HOST_DENIED':
      return REPLY.notAllowed;
    default:
      // UPSTREAM_AUTH, UPSTREAM_STATUS, UPSTREAM_RESET, UPSTREAM_PROTOCOL, BAD_REQUEST, INTERNAL...
      return REPLY.generalFailure;
  }
}

/** The reply bytes for `error` on a SOCKS `version` connection. */
export function failureReply(version: 4 | 5, error: unknown): Buffer {
  if (version === 4) return socks4Reply(SOCKS4_REJECTED);
  return socks5Reply(error instanceof StickyportError ? socks5ReplyCode(error.code) : REPLY.generalFailure);
}

/**
 * Writes `reply` and closes: at once when the client has closed its side, else a second later
 * at the latest. A fixed deadline, not an idle timer: a client trickling a byte now and then
 * reset the idle timer and held a refused connection (and its descriptor) for good.
 */
export function endWith(socket: net.Socket, reply: Buffer | undefined): void {
  if (socket.destroyed) return;
  if (!reply) {
    socket.destroy();
    return;
  }
  // Whatever the client still sends is read and dropped, so that its FIN is seen.
  socket.removeAllListeners('data');
  socket.once('end', () => socket.destroy());
  socket.write(reply);
  closeAfterAnswer(socket, 1_000);
}
