import type { Logger } from '../logging/logger.js';
import type { ChangeOptions, SessionStore } from '../store/session-store.js';
import { isoTime, type Session } from './session.js';

/** A change to a port's session: `created` by traffic, `renewed` (/new), `reset`, `expired`. */
export type SessionChange = 'created' | 'renewed' | 'reset' | 'expired';
export type SessionChangeListener = (port: number, change: SessionChange) => void;

/**
 * The only code that reads or writes the store, and the one place that logs session changes.
 * It knows nothing of routes or connections: src/ports/port-state.ts decides when to call it.
 */
export class SessionService {
  /** Told of every change this instance makes or sees expire (metrics). */
  onChange: SessionChangeListener | undefined;

  /**
   * Creations per port, counted when they land: a renewal whose read found no session yet, while
   * a first request's creation was on its way, is then a renewal of that one, not a second
   * creation (both were logged and counted as `created`): it waits for a lookup under way and
   * looks at the count. One number per port that ever had a session.
   */
  private readonly creations = new Map<number, number>();
  /** The port's first-use lookup under way, which may yet count a creation (see renew). */
  private readonly finding = new Map<number, Promise<Session>>();

  constructor(
    readonly store: SessionStore,
    private readonly log: Logger,
  ) {}

  /** The port's live session, made by `create` if it has none (first use, or the last one expired). */
  current(port: number, create: () => Session): Promise<Session> {
    const work = this.findOrCreate(port, create);
    this.finding.set(port, work);
    const done = (): void => {
      if (this.finding.get(port) === work) this.finding.delete(port);
    };
    work.then(done, done);
    return work;
  }

  private async findOrCreate(port: number, create: () => Session): Promise<Session> {
    let created: Session | undefined;
    const session = await this.store.getOrCreate(port, () => (created = create()));
    if (session === created) {
      this.creations.set(port, (this.creations.get(port) ?? 0) + 1);
      this.log.info({ port, sessionId: session.id, expiresAt: isoTime(session.expiresAt), ...extras(session) }, 'session created');
      this.onChange?.(port, 'created');
    }
    return session;
  }

  /** The port's session made durable: the session API answers an id only once it would survive a crash. */
  async flush(port: number): Promise<void> {
    await this.store.flush?.(port);
  }

  async peek(port: number): Promise<Session | undefined> {
    return this.store.get(port);
  }

  /** Removes the port's session: the next request through it gets a new id. A reset of none ends nothing: not counted. */
  async reset(port: number, options?: ChangeOptions): Promise<boolean> {
    const existed = await this.store.delete(port, options);
    if (!existed) {
      this.log.debug({ port }, 'session reset: the port had none');
      return existed;
    }
    this.log.info({ port }, 'session reset');
    this.onChange?.(port, 'reset');
    return existed;
  }

  /** Keeps what was learnt about the port's session (its exit), unless it rotated meanwhile. */
  async amend(session: Session): Promise<Session | undefined> {
    return this.store.amend(session);
  }

  /**
   * Replaces the port's session with `next` at once (`hadOne`: true when the caller knows the
   * port had a session). On a port that had none (after a reset, or
   * an expiry) that is a creation, logged and counted as one, not a rotation.
   */
  async renew(port: number, next: Session, hadOne?: boolean, options?: ChangeOptions): Promise<Session> {
    // Only what is logged and counted depends on it: the caller's word when it has a session
    // bound (a rotation on a request's way), else one read; a store that cannot answer leaves it "renewed".
    const creations = this.creations.get(port);
    const had = hadOne ?? (await this.store.get(port).then((session) => session !== undefined, () => true));
    const session = await this.store.replace(next, options);
    // A lookup still under way may be the one that made the session this renewal replaced.
    await this.finding.get(port)?.catch(() => undefined);
    const change = had || this.creations.get(port) !== creations ? 'renewed' : 'created';
    this.log.info({ port, sessionId: session.id, expiresAt: isoTime(session.expiresAt), ...extras(session) }, `session ${change}`);
    this.onChange?.(port, change);
    return session;
  }

  /** The port's session reached its expiry (the port's timer saw it). */
  expired(port: number, session: Session): void {
    this.log.info({ port, sessionId: session.id, expiresAt: isoTime(session.expiresAt) }, 'session expired');
    this.onChange?.(port, 'expired');
  }
}

/** The pool member and parameters of a session, for its log lines, when it has them. */
function extras(session: Session): Record<string, unknown> {
  if (session.upstream === undefined && session.params === undefined) return {};
  return { upstream: session.upstream, params: session.params };
}
