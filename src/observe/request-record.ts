import { RequestError } from 'proxy-chain';
import { StickyportError } from '../errors.js';

/** What a client asked for: a plain request, an upgraded one, or a tunnel (HTTP CONNECT, SOCKS). */
export type RequestKind = 'http' | 'websocket' | 'connect' | 'socks5' | 'socks4';

/**
 * One finished request or tunnel, as the traffic paths hand it over: a plain object, made once,
 * when the answer is complete, the tunnel closed, or the request refused. The request log, the
 * per-port statistics, the metrics and the status page's live log all read the same record.
 */
export interface RequestRecord {
  readonly port: number;
  readonly kind: RequestKind;
  /** GET, POST, ... or CONNECT for every tunnel. */
  readonly method: string;
  /** The target as `host:port` (tunnels) or the authority of the absolute URI (plain requests). */
  readonly host: string;
  /** Plain requests: the path with its query string, as sent (the log strips the query). */
  readonly path?: string;
  /** The session the request left with; undefined when it never reached one. */
  readonly sessionId: string | undefined;
  /** The status the client got (a tunnel's 200, a SOCKS failure's HTTP equivalent); 0 = none. */
  readonly status: number;
  /** `OK`, or the code of what went wrong: an X-Stickyport-Error code, `CLIENT_CLOSED`, `BAD_REQUEST`... */
  readonly outcome: string;
  /** What went wrong, in words (never a secret: these are the messages clients get). */
  readonly message?: string;
  /** Bytes of the client's request body, or what it sent into the tunnel. */
  readonly bytesUp: number;
  /** Bytes of the answer's body, or what the tunnel sent back to the client. */
  readonly bytesDown: number;
  /** Wall-clock time it finished, ms since the epoch. */
  readonly endedAt: number;
  readonly durationMs: number;
  /** Plain requests: until the upstream's answer head; tunnels: until the upstream side was open. */
  readonly upstreamMs: number | undefined;
}

/**
 * Receives each finished request or tunnel; absent when nothing observes traffic. `wanted`, when
 * present, says whether records are wanted now (the request log alone, switched off or below
 * its level, wants none): a traffic path asks once, when it starts, and then measures nothing.
 */
export type Observe = ((record: RequestRecord) => void) & { readonly wanted?: () => boolean };

/** True when a request or tunnel starting now is to be measured and handed to `observe`. */
export function observing(observe: Observe | undefined): observe is Observe {
  return observe !== undefined && (observe.wanted === undefined || observe.wanted());
}

export const OK = 'OK';
/** The client went away before its answer was complete (or closed a half-open tunnel). */
export const CLIENT_CLOSED = 'CLIENT_CLOSED';

/** The outcome code and status of an error a request path answered with. */
export function outcomeOf(error: unknown): { outcome: string; status: number; message: string } {
  if (error instanceof StickyportError) return { outcome: error.code, status: error.status, message: error.message };
  if (error instanceof RequestError) {
    const status = error.statusCode;
    const outcome = status === 407 ? 'AUTH_REQUIRED' : status === 400 ? 'BAD_REQUEST' : `HTTP_${status}`;
    return { outcome, status, message: error.message.trimEnd() };
  }
  return { outcome: 'INTERNAL', status: 500, message: 'internal error in stickyport' };
}

/** A failure worth counting: stickyport could not complete it, or the upstream answered 5xx. */
export function isFailure(record: RequestRecord): boolean {
  return record.outcome !== OK || record.status >= 500;
}

/** The code a failure is counted under: its outcome, or HTTP_5xx for an answer relayed as sent. */
export function failureCode(record: RequestRecord): string {
  return record.outcome !== OK ? record.outcome : `HTTP_${record.status}`;
}

/** `host[:port]` of an absolute URI (`http://host:port/path`), '' for anything else. */
export function authorityOf(url: string): string {
  const start = url.indexOf('//');
  if (start < 0 || url[0] === '/') return '';
  let end = start + 2;
  while (end < url.length && url[end] !== '/' && url[end] !== '?' && url[end] !== '#') end++;
  const authority = url.slice(start + 2, end);
  // Credentials in a URI (`http://user:pass@host/`) are never recorded.
  return authority.slice(authority.lastIndexOf('@') + 1);
}

/**
 * A CONNECT's target as recorded: `host:port`, without user info or anything after a `/`, `?`
 * or `#` (a refused CONNECT may carry `user:pass@` or `?token=`, which never reach a record).
 */
export function connectAuthorityOf(target: string): string {
  // The last `@` first: a password may hold `/`, `?` or `#` itself.
  const host = target.slice(target.lastIndexOf('@') + 1);
  const end = host.search(/[/?#]/);
  return end < 0 ? host : host.slice(0, end);
}

/** `path` without its query string (and fragment). */
export function withoutQuery(path: string): string {
  const cut = path.search(/[?#]/);
  return cut < 0 ? path : path.slice(0, cut);
}
