import type { Logger } from '../logging/logger.js';
import type { SessionStore } from '../store/session-store.js';
import type { Session, SessionFactory } from './session.js';

/**
 * The only code that reads or writes the store, and the one place that logs session changes.
 * It knows nothing of routes or connections: src/ports/port-state.ts decides when to call it.
 */
export class SessionService {
  constructor(
    readonly store: SessionStore,
    private readonly createSession: SessionFactory,
    private readonly log: Logger,
  ) {}

  /** The port's live session, created if it has none (first use, or the last one expired). */
  async current(port: number): Promise<Session> {
    let created: Session | undefined;
    const session = await this.store.getOrCreate(port, () => (created = this.createSession(port)));
    if (session === created) {
      this.log.info({ port, sessionId: session.id, expiresAt: session.expiresAt }, 'session created');
    }
    return session;
  }

  async peek(port: number): Promise<Session | undefined> {
    return this.store.get(port);
  }

  /** Removes the port's session: the next request through it gets a new id. */
  async reset(port: number): Promise<boolean> {
    const existed = await this.store.delete(port);
    this.log.info({ port }, 'session reset');
    return existed;
  }

  /** Replaces the port's session at once. */
  async renew(port: number): Promise<Session> {
    const session = await this.store.replace(this.createSession(port));
    this.log.info({ port, sessionId: session.id, expiresAt: session.expiresAt }, 'session renewed');
    return session;
  }
}
