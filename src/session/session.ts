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

/** Milliseconds left, or undefined for a session that never expires. */
export function remainingMs(session: Session, now: number = Date.now()): number | undefined {
  return session.expiresAt === null ? undefined : Math.max(0, session.expiresAt - now);
}
