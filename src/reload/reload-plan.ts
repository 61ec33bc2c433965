import { isLoopbackHost } from '../config/formats.js';
import type { StickyportConfig } from '../config/load.js';
import { memberMaterial } from '../upstream/upstream-member.js';

type Read = (config: StickyportConfig) => unknown;

/**
 * Settings as comparable text, for comparing only (an upstream's password is in it as a digest).
 * Sets (rotation rules' ConnectStatus failures) become lists; functions (compiled tests) drop
 * out, so each keeps the text it was compiled from beside it; an upstream member, whose login
 * lives in its render function, brings the digest of what it renders from.
 */
export function settingsText(value: unknown): string {
  return JSON.stringify(value, (_key, inner: unknown) => {
    if (inner instanceof Set) return [...(inner as Set<unknown>)];
    const material = memberMaterial(inner);
    return material === undefined ? inner : { ...(inner as object), material };
  });
}

type MappingOf = StickyportConfig['mappings'][number];

/** What a mapping's ports are served with, by the key that sets it (a mapping's own, or the top level's). */
const MAPPING_SETTINGS: ReadonlyArray<readonly [string, (m: MappingOf) => unknown]> = [
  // The section: the upstream may be written as Url, Urls or a Preset with its account keys.
  ['Upstream', (m) => m.upstream],
  ['Listen.StickyProxyLifetime', (m) => m.lifetimeMs],
  ['Authentication', (m) => m.auth],
  ['HostRules', (m) => m.hostRules],
  ['Listen.RejectHttpProxy', (m) => m.rejectHttpProxy],
  ['Listen.AllowPrivateTargets', (m) => m.allowPrivateTargets],
  ['Rotation.Rules', (m) => m.rotationRules],
];

/**
 * The mapping settings a reload changes, named as a user wrote them: `Upstream` for the
 * one mapping of a configuration without `Mappings`, `Mappings[1].Upstream` otherwise.
 * Mappings added or removed show as a change of the ports served.
 */
function changedMappingSettings(running: StickyportConfig, next: StickyportConfig): string[] {
  const keys: string[] = [];
  for (const mapping of next.mappings) {
    // By name; a mapping renamed on the same ports is the one that served its first port (its
    // sessions stay, so what changed with the name must be said too).
    let before = running.mappings.find((old) => old.name === mapping.name);
    if (!before) {
      before = running.mappings.find((old) => old.host === mapping.host && old.portStart <= mapping.portStart && mapping.portStart <= old.portEnd);
      if (!before) continue;
      keys.push(mapping.source ? `${mapping.source}.Name` : 'Name');
    }
    for (const [key, read] of MAPPING_SETTINGS) {
      if (settingsText(read(before)) !== settingsText(read(mapping))) keys.push(mapping.source ? `${mapping.source}.${key}` : key);
    }
  }
  return keys;
}

/**
 * Keys a reload applies to sessions created from then on: running sessions keep what they have
 * (each port takes its mapping's new settings when its session next rotates or expires).
 */
const FOR_NEW_SESSIONS: ReadonlyArray<readonly [string, Read]> = [
  ['Upstream.ConnectTimeout', (c) => c.upstream.connectTimeoutMs],
  ['Upstream.ResponseTimeout', (c) => c.upstream.responseTimeoutMs],
  ['Upstream.PoolIdleTimeout', (c) => c.upstream.poolIdleTimeoutMs],
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
  ['Listen.IdleTimeout', (c) => c.listen.idleTimeoutMs],
  ['Listen.HeadersTimeout', (c) => c.listen.headersTimeoutMs],
  ['Listen.MaxConnectionsPerClient', (c) => c.listen.maxConnectionsPerClient],
  ['Listen.MaxConnectionsPerPort', (c) => c.listen.maxConnectionsPerPort],
  ['Listen.AllowUnauthenticatedPublic', (c) => c.listen.allowUnauthenticatedPublic],
  ['Session.IdLength', (c) => c.session.idLength],
  ['Session.IdAlphabet', (c) => c.session.idAlphabet],
  ['SessionAPI', (c) => c.sessionApi],
  // Identity checks and keep-alive timers are armed per session as it is installed.
  ['Identity', (c) => ({ ...c.identity, keepAliveMs: undefined, keepAliveUrl: undefined })],
  ['Session.KeepAlive', (c) => [c.identity.keepAliveMs, c.identity.keepAliveUrl]],
  ['Rotation.BodyScanKiB', (c) => c.rotation.bodyScanBytes],
  ['SessionStore', (c) => c.store],
  ['Admin', (c) => c.admin],
  ['Metrics', (c) => c.metrics],
];

/** What a reload will do, before it does anything. */
export interface ReloadPlan {
  /** The configuration that runs afterwards: the new values of every key a reload applies, the old ones of the rest. */
  readonly running: StickyportConfig;
  /** Every port, ascending, as the listeners should serve them. */
  readonly ports: number[];
  /** Every (host, port) the listeners should serve. */
  readonly endpoints: Array<{ host: string; port: number }>;
  /** Keys applied, for new sessions or at once (`Listen.PortRange` when the ports change). */
  readonly changed: string[];
  /** Keys whose new value waits for a restart. */
  readonly restartNeeded: string[];
  /** Why the plan must not be applied at all (a port that would serve as an open proxy); else undefined. */
  readonly refusal: string | undefined;
}

const differs = (read: Read, a: StickyportConfig, b: StickyportConfig): boolean => settingsText(read(a)) !== settingsText(read(b));

function endpointsOf(config: StickyportConfig): Array<{ host: string; port: number }> {
  const endpoints: Array<{ host: string; port: number }> = [];
  for (const mapping of config.mappings) {
    for (let port = mapping.portStart; port <= mapping.portEnd; port++) endpoints.push({ host: mapping.host, port });
  }
  return endpoints.sort((a, b) => a.port - b.port);
}

/**
 * Compares the running configuration with one just loaded. Structured by what changes when:
 * the ports served (bound and closed), what new sessions get, what applies at once, and what
 * waits for a restart. Mappings added, removed, widened or narrowed change the ports served.
 */
export function planReload(running: StickyportConfig, next: StickyportConfig): ReloadPlan {
  const changed = [
    ...changedMappingSettings(running, next),
    ...[...FOR_NEW_SESSIONS, ...AT_ONCE].filter(([, read]) => differs(read, running, next)).map(([key]) => key),
  ];
  const restartNeeded = AFTER_RESTART.filter(([, read]) => differs(read, running, next)).map(([key]) => key);
  // The listen host of a mapping waits for a restart, and so does what the configuration derived
  // from it (private targets allowed on loopback): the new file was checked against its new host.
  // The same mapping is the same name on the same ports: unnamed mappings are named by their
  // place, so two swapped in the file are two mappings whose ports keep the host they listen on.
  const mappings = next.mappings.map((mapping) => {
    const before = running.mappings.find((old) => old.name === mapping.name && old.portStart === mapping.portStart && old.portEnd === mapping.portEnd);
    if (!before || before.host === mapping.host) return mapping;
    if (!restartNeeded.includes('Listen.Host')) restartNeeded.unshift('Listen.Host');
    if (before.allowPrivateTargets !== mapping.allowPrivateTargets) {
      const key = mapping.source ? `${mapping.source}.Listen.AllowPrivateTargets` : 'Listen.AllowPrivateTargets';
      const at = changed.indexOf(key);
      if (at >= 0) changed.splice(at, 1);
      restartNeeded.push(key);
    }
    return { ...mapping, host: before.host, allowPrivateTargets: before.allowPrivateTargets };
  });
  const endpoints = endpointsOf({ ...next, mappings });
  if (JSON.stringify(endpointsOf(running)) !== JSON.stringify(endpoints)) changed.unshift('Listen.PortRange');
  return {
    running: {
      ...running,
      listen: { ...running.listen, portStart: next.listen.portStart, portEnd: next.listen.portEnd },
      session: { ...running.session, lifetimeMs: next.session.lifetimeMs },
      upstream: next.upstream,
      mappings,
      logLevel: next.logLevel,
      logging: next.logging,
      sources: next.sources,
    },
    ports: endpoints.map((endpoint) => endpoint.port),
    endpoints,
    changed,
    restartNeeded,
    refusal: openProxyRefusal(mappings, running.listen.allowUnauthenticatedPublic),
  };
}

/**
 * Start-up refuses a public listen address without a client login; a reload must too, judged on
 * the address the ports will keep (Listen.Host moves only with a restart) and on the running
 * Listen.AllowUnauthenticatedPublic. Otherwise a file moving to 127.0.0.1 with the login off
 * would open a port still bound to 0.0.0.0 to anyone.
 */
function openProxyRefusal(mappings: StickyportConfig['mappings'], allowUnauthenticatedPublic: boolean): string | undefined {
  if (allowUnauthenticatedPublic) return undefined;
  const open = mappings.find((mapping) => !isLoopbackHost(mapping.host) && !mapping.auth.required);
  if (!open) return undefined;
  const prefix = open.source ? `${open.source}.` : '';
  const ports = open.portStart === open.portEnd ? `port ${open.portStart}` : `ports ${open.portStart}-${open.portEnd}`;
  return (
    `${prefix}Authentication.Required is false, but ${ports} still listen on ${open.host} (Listen.Host changes only at a restart): ` +
    'that would be an open proxy. Keep the login on until a restart, or restart to change the address'
  );
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
