import { customAlphabet } from 'nanoid';

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
}

export type SessionFactory = (port: number) => Session;

export interface SessionOptions {
  readonly idLength: number;
  readonly idAlphabet: string;
  /** 0 = never expires. */
  readonly lifetimeMs: number;
}

export function createSessionFactory(options: SessionOptions, now: () => number = Date.now): SessionFactory {
  const newId = customAlphabet(options.idAlphabet, options.idLength);
  return (port) => {
    const createdAt = now();
    return Object.freeze({
      id: newId(),
      port,
      createdAt,
      expiresAt: options.lifetimeMs > 0 ? createdAt + options.lifetimeMs : null,
    });
  };
}

export function isLive(session: Session, now: number = Date.now()): boolean {
  return session.expiresAt === null || session.expiresAt > now;
}

/** What a session id must look like: the configured Session.IdLength and Session.IdAlphabet. */
export interface SessionIdRule {
  readonly idLength: number;
  readonly idAlphabet: string;
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
  const { id, port: ownPort, createdAt, expiresAt } = value as Record<string, unknown>;
  if (typeof id !== 'string') return { problem: 'id is not a string' };
  if (!followsIdRule(id, rule)) return { problem: 'id does not follow Session.IdLength and Session.IdAlphabet' };
  if (typeof ownPort !== 'number' || !Number.isInteger(ownPort) || ownPort < 1 || ownPort > 65_535) return { problem: 'port is not a port number' };
  if (port !== undefined && ownPort !== port) return { problem: `stored under port ${port} but names port ${ownPort}` };
  if (typeof createdAt !== 'number' || !Number.isFinite(createdAt)) return { problem: 'createdAt is not a number' };
  if (expiresAt !== null && (typeof expiresAt !== 'number' || !Number.isFinite(expiresAt))) return { problem: 'expiresAt is neither a number nor null' };
  return { session: Object.freeze({ id, port: ownPort, createdAt, expiresAt }) };
}

/** Milliseconds left, or undefined for a session that never expires. */
export function remainingMs(session: Session, now: number = Date.now()): number | undefined {
  return session.expiresAt === null ? undefined : Math.max(0, session.expiresAt - now);
}

/** An absolute time as ISO 8601 (`2026-06-10T16:09:43.000Z`), for logs and the admin API; null stays null. */
export function isoTime(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}
