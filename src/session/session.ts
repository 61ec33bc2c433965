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

/** A frozen Session from untrusted JSON (a file, a Redis value), or undefined if it is not one. */
export function reviveSession(value: unknown): Session | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { id, port, createdAt, expiresAt } = value as Record<string, unknown>;
  if (typeof id !== 'string' || id === '') return undefined;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65_535) return undefined;
  if (typeof createdAt !== 'number' || !Number.isFinite(createdAt)) return undefined;
  if (expiresAt !== null && (typeof expiresAt !== 'number' || !Number.isFinite(expiresAt))) return undefined;
  return Object.freeze({ id, port, createdAt, expiresAt });
}

/** Milliseconds left, or undefined for a session that never expires. */
export function remainingMs(session: Session, now: number = Date.now()): number | undefined {
  return session.expiresAt === null ? undefined : Math.max(0, session.expiresAt - now);
}
