import type { Logger } from '../logging/logger.js';
import type { SessionStore } from '../store/session-store.js';
import type { Session, SessionFactory } from './session.js';

/** `initiator` is whatever asked for the change (the API's client connection), passed through. */
export type SessionChangeListener = (port: number, initiator?: object) => void;

/**
 * The only code that reads or writes the store. It logs one line per session change and tells
 * listeners (the port routes) when a port's session was replaced or removed on purpose, so
 * that they can close what still flows on the old identity.
 */
export class SessionService {
  private readonly listeners: SessionChangeListener[] = [];

  constructor(
    readonly store: SessionStore,
    private readonly createSession: SessionFactory,
    private readonly log: Logger,
  ) {}

  onChange(listener: SessionChangeListener): void {
    this.listeners.push(listener);
  }

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
  async reset(port: number, initiator?: object): Promise<boolean> {
    const existed = await this.store.delete(port);
    this.log.info({ port }, 'session reset');
    this.notify(port, initiator);
    return existed;
  }

  /** Replaces the port's session at once. */
  async renew(port: number, initiator?: object): Promise<Session> {
    const session = await this.store.replace(this.createSession(port));
    this.log.info({ port, sessionId: session.id, expiresAt: session.expiresAt }, 'session renewed');
    this.notify(port, initiator);
    return session;
  }

  private notify(port: number, initiator?: object): void {
    for (const listener of this.listeners) listener(port, initiator);
  }
}
