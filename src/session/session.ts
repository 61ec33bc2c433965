import { isIP } from 'node:net';
import { customAlphabet } from 'nanoid';
import { storedParamsProblem, type SessionParams } from './parameters.js';

/**
 * A port's sticky session. Sessions are frozen: every holder may share the same object.
 * `expiresAt` is absolute (ms since the epoch) and fixed at creation: use does not renew it.
 */
export interface Session {
  readonly id: string;
  readonly port: number;
  readonly createdAt: number;
  /** null = never expires on its own. */
  readonly expiresAt: number | null;
  /**
   * The member of the port's upstream pool the session is pinned to (its `host:port` key);
   * absent when the port's upstream is not a pool of two or more.
   */
  readonly upstream?: string;
  /** User name parameters set for this session (from a login or the API); absent = the defaults. */
  readonly params?: SessionParams;
  /** The exit IP an echo URL last saw this session come from; absent until one was asked. */
  readonly exit?: ExitIdentity;
}

/** Where a session leaves the provider's network, as an echo URL saw it. */
export interface ExitIdentity {
  readonly ip: string;
  /** ISO 3166 alpha-2, upper case, when the echo answer said. */
  readonly country?: string;
  /** When an echo answer last confirmed this IP (ms since the epoch). */
  readonly seenAt: number;
}

const COUNTRY = /^[A-Z]{2}$/;

// The largest time a Date holds (ms either side of the epoch). A stored time beyond it is finite
// but has no ISO form: the admin API, the status page and the log lines would all throw on it.
const MAX_TIME = 8.64e15;

/** A stored time (ms since the epoch) that a Date can hold. */
function isTime(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && Math.abs(value) <= MAX_TIME;
}

/**
 * An address a remote server can have seen: an exit. isIP() also takes an IPv6 zone
 * ("fe80::1%eth0", the zone of any length): that names an interface of the echo server's own
 * machine, never an exit, and would go into the store and every log line about the session.
 */
export function isExitAddress(text: string): boolean {
  return isIP(text) !== 0 && !text.includes('%');
}

/** What is wrong with a stored `exit`, or undefined. */
export function exitProblem(exit: unknown): string | undefined {
  if (typeof exit !== 'object' || exit === null || Array.isArray(exit)) return 'exit is not an object';
  const { ip, country, seenAt, ...rest } = exit as Record<string, unknown>;
  if (typeof ip !== 'string' || !isExitAddress(ip)) return 'exit.ip is not an IP address';
  if (country !== undefined && (typeof country !== 'string' || !COUNTRY.test(country))) return 'exit.country is not a two-letter country code';
  if (!isTime(seenAt)) return 'exit.seenAt is not a time';
  if (Object.keys(rest).length > 0) return `exit has unknown fields (${Object.keys(rest).slice(0, 3).join(', ')})`;
  return undefined;
}

/** `session` with `exit` as its exit identity: the same session (id, expiry) otherwise. */
export function withExit(session: Session, exit: ExitIdentity): Session {
  const frozen: ExitIdentity = Object.freeze(exit.country === undefined ? { ip: exit.ip, seenAt: exit.seenAt } : { ip: exit.ip, country: exit.country, seenAt: exit.seenAt });
  return Object.freeze({ ...session, exit: frozen });
}

/** What a new session is for, besides its port: where it goes out and with which parameters. */
export interface SessionExtras {
  readonly upstream?: string;
  readonly params?: SessionParams;
}

export type SessionFactory = (port: number, extras?: SessionExtras) => Session;

export interface SessionOptions {
  readonly idLength: number;
  readonly idAlphabet: string;
  /** 0 = never expires. */
  readonly lifetimeMs: number;
}

export function createSessionFactory(options: SessionOptions, now: () => number = Date.now): SessionFactory {
  const newId = customAlphabet(options.idAlphabet, options.idLength);
  return (port, extras) => {
    const createdAt = now();
    const session: { -readonly [K in keyof Session]: Session[K] } = {
      id: newId(),
      port,
      createdAt,
      expiresAt: options.lifetimeMs > 0 ? createdAt + options.lifetimeMs : null,
    };
    // Only present when set: sessions of ports without pools or parameters stay as they were.
    if (extras?.upstream !== undefined) session.upstream = extras.upstream;
    if (extras?.params !== undefined && Object.keys(extras.params).length > 0) session.params = extras.params;
    return Object.freeze(session);
  };
}

export function isLive(session: Session, now: number = Date.now()): boolean {
  return session.expiresAt === null || session.expiresAt > now;
}

/** What a session id must look like: the configured Session.IdLength and Session.IdAlphabet. */
export interface SessionIdRule {
  readonly idLength: number;
  readonly idAlphabet: string;
  /**
   * What else a stored session of `port` may hold: the keys of the port's upstream pool (absent:
   * no pool, so no `upstream` field is expected) and its declared parameter names.
   */
  readonly portRule?: (
    port: number,
  ) => { readonly upstreamKeys?: ReadonlySet<string>; readonly parameters: ReadonlySet<string>; readonly lifetimeMs?: number } | undefined;
}

/** True when `id` is exactly `idLength` characters, each from `idAlphabet`. */
export function followsIdRule(id: string, rule: SessionIdRule): boolean {
  if (id.length !== rule.idLength) return false;
  for (let i = 0; i < id.length; i++) {
    if (!rule.idAlphabet.includes(id[i]!)) return false;
  }
  return true;
}

/** A session read back from a store, or why the stored value cannot be used. */
export type RevivedSession =
  | { readonly session: Session; readonly problem?: undefined }
  | { readonly session?: undefined; readonly problem: string };

/**
 * A frozen Session from untrusted JSON (a file, a Redis value), or the reason it is not one.
 * The id goes into the upstream proxy's user name, so it must follow the configured id rule:
 * a `:` or `@` from a hand-edited file or a foreign Redis client would change what the
 * provider sees (or make every request through the port fail). `port`, when given, is the
 * port the value was stored under: a value for another port is not this port's session.
 */
export function reviveSession(value: unknown, rule: SessionIdRule, port?: number): RevivedSession {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { problem: 'not an object' };
  const { id, port: ownPort, createdAt, expiresAt, upstream, params, exit } = value as Record<string, unknown>;
  if (typeof id !== 'string') return { problem: 'id is not a string' };
  if (!followsIdRule(id, rule)) return { problem: 'id does not follow Session.IdLength and Session.IdAlphabet' };
  if (typeof ownPort !== 'number' || !Number.isInteger(ownPort) || ownPort < 1 || ownPort > 65_535) return { problem: 'port is not a port number' };
  if (port !== undefined && ownPort !== port) return { problem: `stored under port ${port} but names port ${ownPort}` };
  if (!isTime(createdAt)) return { problem: 'createdAt is not a time' };
  // A day of clock difference between instances sharing a store is allowed; more is no creation
  // time, and would carry the lifetime cap below out as far as it claims.
  if (createdAt > Date.now() + CLOCK_SLACK_MS) return { problem: 'createdAt is more than a day ahead of this machine\'s clock' };
  if (expiresAt !== null && !isTime(expiresAt)) return { problem: 'expiresAt is neither a time nor null' };
  const portRule = rule.portRule?.(ownPort);
  const session: { -readonly [K in keyof Session]: Session[K] } = { id, port: ownPort, createdAt, expiresAt: cappedExpiry(createdAt, expiresAt, portRule?.lifetimeMs) };
  // Values stored before pools and parameters existed have neither field: they load as they are.
  if (upstream !== undefined || params !== undefined) {
    if (upstream !== undefined) {
      if (typeof upstream !== 'string') return { problem: 'upstream is not a string' };
      // A member no longer in the pool (the configuration changed) is not one to go out through.
      if (!portRule?.upstreamKeys?.has(upstream)) return { problem: `upstream ${JSON.stringify(upstream.slice(0, 60))} is not one of the port's Upstream.Urls` };
      session.upstream = upstream;
    }
    if (params !== undefined) {
      const problem = storedParamsProblem(params, portRule?.parameters ?? new Set());
      if (problem) return { problem };
      session.params = Object.freeze({ ...(params as SessionParams) });
    }
  }
  // Values stored before exit identities existed have none.
  if (exit !== undefined) {
    const problem = exitProblem(exit);
    if (problem) return { problem };
    return { session: withExit(session, exit as ExitIdentity) };
  }
  return { session: Object.freeze(session) };
}

/** How far ahead of this clock a stored createdAt may be (another instance's clock). */
const CLOCK_SLACK_MS = 86_400_000;

/**
 * A stored expiry no later than the port's lifetime (0: never expires) allows from createdAt. A
 * hand-edited one far out (expiresAt 8.64e15) kept its id for good; a session stored while the
 * lifetime was longer (or none) ends when the lifetime configured now says.
 */
function cappedExpiry(createdAt: number, expiresAt: number | null, lifetimeMs: number | undefined): number | null {
  if (lifetimeMs === undefined || lifetimeMs <= 0) return expiresAt;
  const cap = Math.min(createdAt + lifetimeMs, MAX_TIME);
  return expiresAt === null || expiresAt > cap ? cap : expiresAt;
}

/** Milliseconds left, or undefined for a session that never expires. */
export function remainingMs(session: Session, now: number = Date.now()): number | undefined {
  return session.expiresAt === null ? undefined : Math.max(0, session.expiresAt - now);
}

/** An absolute time as ISO 8601 (`2026-06-10T16:09:43.000Z`), for logs and the admin API; null stays null. */
export function isoTime(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}
