import type { Session } from '../session/session.js';

/**
 * Where sessions live, keyed by local port. Every backend honours this contract, and
 * test/store/session-store.contract.ts checks it against each one:
 *
 * - Only live sessions are ever returned: once `expiresAt` has passed, a session is gone
 *   (the store applies the TTL, callers never check it). "Not found" is `undefined`, not an error.
 * - `getOrCreate` is atomic: when several callers (in one process, or in several processes
 *   sharing the store) race on a port without a live session, exactly one `create()` result is
 *   stored and every caller gets that same session back.
 * - `replace` stores the given session for its port whatever was there; `delete` removes the
 *   port's session and tells whether there was a live one. Both resolve only once the change
 *   is durable in the backend (the file holding it is on disk; Redis acknowledged the command):
 *   what the session API answered survives a crash. A backend may let `getOrCreate` persist
 *   later (the file store does): losing such a session only means a new id after a crash.
 *   The one exception is the Redis store while Redis is down: it then serves from local memory,
 *   and a change made meanwhile is local to the instance (the README's "When Redis is down"),
 *   unless the change is `acknowledged` (ChangeOptions): then it is refused instead.
 * - Values read back from the backend are checked before use: a value that is not a session
 *   (not JSON, fields missing or mistyped, stored under another port, an id that breaks the
 *   configured Session.IdLength/IdAlphabet) is that port's missing session. The next
 *   `getOrCreate` replaces it; it is logged once (shortened), and other ports are untouched.
 * - `amend` stores a session in place of the port's live session only when that one has the
 *   same id (the session is the same; what was learnt about it, its exit identity, changed).
 *   It resolves with what was stored, or undefined when the port holds another session or none
 *   (a rotation won): nothing is written then. It is not announced to other instances, and a
 *   backend may persist it later (the file store does), as it may for getOrCreate.
 * - `list` returns every live session, in no particular order.
 * - Sessions are immutable values: a store may hand out the object it keeps.
 * - `close` flushes what must persist and releases connections; calling it twice is safe.
 *   After close, operations reject.
 * - `onRemoteChange` (shared backends only) calls its listeners when another process replaced
 *   or deleted a port's session, never for this store's own changes.
 */
/** How `replace` or `delete` is to be made. */
export interface ChangeOptions {
  /**
   * Somebody is told it happened (the session API's and the admin API's rotations): it must be
   * durable and reach the other instances, or fail. A store that could keep it in this process
   * only (Redis while it is away) refuses it instead of answering for what a crash would undo.
   */
  readonly acknowledged?: boolean;
}

/** The options of a rotation somebody is told about (the session and admin APIs, a renewal header). */
export const ACKNOWLEDGED: ChangeOptions = Object.freeze({ acknowledged: true });

export interface SessionStore {
  /** Short backend name for logs: memory, file, redis. */
  readonly kind: string;
  /**
   * True when other processes may change the store (Redis): then callers must ask the store
   * on every request instead of trusting what they last read.
   */
  readonly shared: boolean;

  get(port: number): Promise<Session | undefined>;
  getOrCreate(port: number, create: () => Session): Promise<Session>;
  replace(session: Session, options?: ChangeOptions): Promise<Session>;
  amend(session: Session): Promise<Session | undefined>;
  delete(port: number, options?: ChangeOptions): Promise<boolean>;
  list(): Promise<Session[]>;
  close(): Promise<void>;
  /** Listens for changes other processes make (a shared store's other instances). */
  onRemoteChange?(listener: (port: number) => void): void;
  /** How the backend is doing, for /readyz and metrics; a store without it is always `up`. */
  health?(): StoreHealth;
  /**
   * Resolves once the port's session is as durable as the store makes anything (a file store's
   * write on disk); rejects when it cannot be. Absent: every session already is.
   */
  flush?(port: number): Promise<void>;
}

/**
 * `up`: the backend answers. `fallback`: it does not, and the store serves in its documented
 * fallback (Redis: the local copy, README "When Redis is down").
 */
export interface StoreHealth {
  readonly state: 'up' | 'fallback';
  /** Outages begun since start. */
  readonly outages: number;
}

export class StoreClosedError extends Error {
  constructor(kind: string) {
    super(`the ${kind} session store is closed`);
    this.name = 'StoreClosedError';
  }
}
