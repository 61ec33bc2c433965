import type { StickyportConfig } from '../config/load.js';

type Read = (config: StickyportConfig) => unknown;

/** Keys a reload applies to sessions created from then on: running sessions keep what they have. */
const FOR_NEW_SESSIONS: ReadonlyArray<readonly [string, Read]> = [
  ['Upstream.Url', (c) => c.upstream.template],
  ['Upstream.ConnectTimeout', (c) => c.upstream.connectTimeoutMs],
  ['Upstream.ResponseTimeout', (c) => c.upstream.responseTimeoutMs],
  ['Upstream.PoolIdleTimeout', (c) => c.upstream.poolIdleTimeoutMs],
  ['Listen.StickyProxyLifetime', (c) => c.session.lifetimeMs],
];

/** Keys a reload applies at once. */
const AT_ONCE: ReadonlyArray<readonly [string, Read]> = [
  ['Logging.Level', (c) => c.logLevel],
  ['Logging.Requests', (c) => c.logging.requests],
  ['Logging.RequestUrls', (c) => c.logging.requestUrls],
];

/**
 * Keys only a restart applies: what every connection, listener or stored session was set up
 * with (timeouts of open connections, the listen address, the store, logins, the admin server).
 * A reload that changes one applies the rest and says which of these wait for a restart.
 */
const AFTER_RESTART: ReadonlyArray<readonly [string, Read]> = [
  ['Listen.Host', (c) => c.listen.host],
  ['Listen.IdleTimeout', (c) => c.listen.idleTimeoutMs],
  ['Listen.HeadersTimeout', (c) => c.listen.headersTimeoutMs],
  ['Listen.MaxConnectionsPerClient', (c) => c.listen.maxConnectionsPerClient],
  ['Listen.MaxConnectionsPerPort', (c) => c.listen.maxConnectionsPerPort],
  ['Listen.AllowPrivateTargets', (c) => c.listen.allowPrivateTargets],
  ['Listen.AllowUnauthenticatedPublic', (c) => c.listen.allowUnauthenticatedPublic],
  ['Session.IdLength', (c) => c.session.idLength],
  ['Session.IdAlphabet', (c) => c.session.idAlphabet],
  ['SessionAPI', (c) => c.sessionApi],
  ['SessionStore', (c) => c.store],
  ['Authentication', (c) => c.auth],
  ['Admin', (c) => c.admin],
  ['Metrics', (c) => c.metrics],
];

/** What a reload will do, before it does anything. */
export interface ReloadPlan {
  /** The configuration that runs afterwards: the new values of every key a reload applies, the old ones of the rest. */
  readonly running: StickyportConfig;
  /** Every port, ascending, as the listeners should serve them. */
  readonly ports: number[];
  /** Keys applied, for new sessions or at once (`Listen.PortRange` when the ports change). */
  readonly changed: string[];
  /** Keys whose new value waits for a restart. */
  readonly restartNeeded: string[];
}

const differs = (read: Read, a: StickyportConfig, b: StickyportConfig): boolean => JSON.stringify(read(a)) !== JSON.stringify(read(b));

function portsOf(config: StickyportConfig): number[] {
  const ports: number[] = [];
  for (let port = config.listen.portStart; port <= config.listen.portEnd; port++) ports.push(port);
  return ports;
}

/**
 * Compares the running configuration with one just loaded. Structured by what changes when:
 * the ports served (bound and closed), what new sessions get, what applies at once, and what
 * waits for a restart. Issue 12's mappings add a step: mappings added or removed.
 */
export function planReload(running: StickyportConfig, next: StickyportConfig): ReloadPlan {
  const changed = [...FOR_NEW_SESSIONS, ...AT_ONCE].filter(([, read]) => differs(read, running, next)).map(([key]) => key);
  if (running.listen.portStart !== next.listen.portStart || running.listen.portEnd !== next.listen.portEnd) {
    changed.unshift('Listen.PortRange');
  }
  const restartNeeded = AFTER_RESTART.filter(([, read]) => differs(read, running, next)).map(([key]) => key);
  return {
    running: {
      ...running,
      listen: { ...running.listen, portStart: next.listen.portStart, portEnd: next.listen.portEnd },
      session: { ...running.session, lifetimeMs: next.session.lifetimeMs },
      upstream: next.upstream,
      logLevel: next.logLevel,
      logging: next.logging,
      sources: next.sources,
    },
    ports: portsOf(next),
    changed,
    restartNeeded,
  };
}

/** `10201-10250, 10260`: ports as ranges, for logs and answers. */
export function describePorts(ports: readonly number[]): string {
  const sorted = [...ports].sort((a, b) => a - b);
  const pieces: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    pieces.push(i === j ? `${sorted[i]}` : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return pieces.join(', ');
}
