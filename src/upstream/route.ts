import http from 'node:http';
import type { UpstreamReads } from './upstream-reads.js';

/** Where a plain HTTP request goes: `path` is what the request line carries after the method. */
export interface HttpTarget {
  readonly hostname: string;
  readonly port: number;
  /** `http://host:port/path?query` as the client sent it. */
  readonly absoluteUrl: string;
  /** `/path?query`. */
  readonly path: string;
}

/** An upstream connection ready to carry a tunnel; what it already sent is held in `reads`. */
export interface OpenTunnel {
  readonly reads: UpstreamReads;
}

/**
 * One session's way out: the upstream endpoint rendered with that session's id, and the
 * connections made for it. A route's keep-alive pool is its own, so no upstream connection is
 * ever shared by two sessions (providers pin the exit IP to the connection). Destroying the
 * route closes its pooled connections.
 */
export interface UpstreamRoute {
  readonly sessionId: string;
  /**
   * True when plain requests go to an HTTP(S) proxy: a 407 answer then is that proxy
   * rejecting the template's credentials, not the target speaking.
   */
  readonly viaHttpProxy: boolean;
  /** "upstream proxy host:port" or "target host:port", for error messages: never a password. */
  describePeer(target: { hostname: string; port: number }): string;
  request(target: HttpTarget, method: string, headers: string[]): http.ClientRequest;
  openTunnel(hostname: string, port: number): Promise<OpenTunnel>;
  destroy(): void;
}

export const KEEP_ALIVE_AGENT_OPTIONS = {
  keepAlive: true,
  // LIFO reuse keeps the pool small: the sockets idle longest time out first.
  scheduling: 'lifo',
  maxFreeSockets: 64,
} as const;

/** A plain HTTP request sent to the target itself through `agent` (direct, or a SOCKS agent). */
export function requestToTarget(target: HttpTarget, method: string, headers: string[], agent: http.Agent): http.ClientRequest {
  return http.request({ host: target.hostname, port: target.port, method, path: target.path, headers, agent, setHost: false });
}
