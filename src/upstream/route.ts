import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { UpstreamReads } from './upstream-reads.js';
import type { PoolTimeouts } from './pool-options.js';

/** Where a plain HTTP request goes. */
export interface HttpTarget {
  readonly hostname: string;
  readonly port: number;
  /** `host[:port]` exactly as the client's absolute URI wrote it: the Host header sent on. */
  readonly authority: string;
  /** The request target as the client sent it, `http://host:port/path?query`: an HTTP proxy gets it byte for byte. */
  readonly absoluteUrl: string;
  /** `/path?query` cut from the same bytes (never normalised): what the target itself gets. */
  readonly path: string;
  /** Where the client asked to go, when a host rule's OverrideHost or OverridePort sent it elsewhere. */
  readonly asked?: { readonly hostname: string; readonly port: number };
}

/** One plain HTTP request on its way out: headers are already end-to-end only. */
export interface OutgoingRequest {
  readonly method: string;
  /** Flat [name, value, ...] list. */
  readonly headers: string[];
  /** The client's request body, or null when it sent none. */
  readonly body: Readable | null;
  /** The protocol a client asks to switch to (`websocket`): the request goes out as an upgrade. */
  readonly upgrade?: string;
  /**
   * For an upgrade: ties the switched connection to the session of `route`, the route it went
   * out on at last (a retry goes on the port's current route); false when that one rotated meanwhile.
   */
  readonly switched?: (route: UpstreamRoute) => boolean;
}

/** An upstream connection ready to carry a tunnel; what it already sent is held in `reads`. */
export interface OpenTunnel {
  readonly reads: UpstreamReads;
}

/**
 * A tunnel handshake, or a pooled request that waited for a connection, given up before the
 * session's login left, because the session was retired meanwhile: it goes out again on the
 * port's session now (way-out.ts, forward.ts), nothing failed.
 */
/**
 * Routes closed because their session's login was rendered again (a reload gave the upstream a
 * new password; the session is the same): a request or tunnel still waiting for its connection
 * on one is sent on the session's new route instead, never with the old password.
 */
export const renderedAgain = new WeakSet<UpstreamRoute>();

export class RetiredBeforeSent extends Error {
  constructor() {
    super('the session was retired before its login was sent');
  }
}

/** undici's (legacy, allocation-free) handler interface, which forward.ts implements. */
export type DispatchHandler = Dispatcher.DispatchHandler;

/**
 * One session's way out: the upstream endpoint rendered with that session's id, and the
 * connections made for it. A route's keep-alive pool is its own, so no upstream connection is
 * ever shared by two sessions (providers pin the exit IP to the connection).
 */
export interface UpstreamRoute {
  readonly sessionId: string;
  /**
   * True when plain requests go to an HTTP(S) proxy: a 407 answer then is that proxy
   * rejecting the template's credentials, not the target speaking.
   */
  readonly viaHttpProxy: boolean;
  /** The connect, answer and idle limits of this route's connections (Upstream.*Timeout). */
  readonly timeouts: PoolTimeouts;
  /** Set by close() or destroy(): a request still waiting for a connection is not sent on it. */
  readonly retired: boolean;
  /** "upstream proxy host:port" or "target host:port", for error messages: never a password. */
  describePeer(target: { hostname: string; port: number }): string;
  /** Sends one request on this session's pool; `handler` receives undici's callbacks, errors included. */
  dispatch(target: HttpTarget, request: OutgoingRequest, handler: DispatchHandler): void;
  /**
   * A connection through this route to hostname:port. `stillCarries`, when given, is asked right
   * before each handshake write that carries the session's login (an HTTP CONNECT once the
   * connection is up; the SOCKS login after the proxy chose its method): false, because the
   * port rotated meanwhile, sends nothing more and rejects with RetiredBeforeSent.
   */
  openTunnel(hostname: string, port: number, stillCarries?: () => boolean): Promise<OpenTunnel>;
  /**
   * Retires the route (its session rotated or expired): idle pooled connections close now,
   * busy ones as soon as their answer is complete; nothing new is sent on it.
   */
  close(): void;
  /** Closes every connection at once (shutdown). */
  destroy(): void;
}
