import type { Agent } from 'undici';

export interface PoolTimeouts {
  /** Upstream.ConnectTimeout. */
  readonly connectTimeoutMs: number;
  /** Upstream.ResponseTimeout: no answer head, or a pause mid-body, this long is a 504 or a cut. */
  readonly responseTimeoutMs: number;
  /** Upstream.PoolIdleTimeout. */
  readonly poolIdleTimeoutMs: number;
}

/**
 * The undici options every session pool shares. Idle pooled connections are closed after
 * Upstream.PoolIdleTimeout whatever the upstream's Keep-Alive hint says: providers drop idle
 * connections silently (no FIN) after a few seconds, and a request sent on such a connection
 * is lost. Keeping our limit below theirs means a POST never lands on a dead connection.
 */
export function poolOptions(timeouts: PoolTimeouts): Agent.Options {
  return {
    connections: null,
    pipelining: 1,
    keepAliveTimeout: timeouts.poolIdleTimeoutMs,
    keepAliveMaxTimeout: timeouts.poolIdleTimeoutMs,
    // A hint of "timeout=5" is taken as 4 s: the upstream's clock and ours are not in step.
    keepAliveTimeoutThreshold: 1_000,
    headersTimeout: timeouts.responseTimeoutMs,
    bodyTimeout: timeouts.responseTimeoutMs,
    connect: { timeout: timeouts.connectTimeoutMs, noDelay: true },
  };
}
