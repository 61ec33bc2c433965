import { isLive, type Session } from '../session/session.js';
import { StoreClosedError, type SessionStore } from './session-store.js';

/**
 * Sessions in a Map. Expired entries are dropped when read; `sweep` (run by the file store
 * before it saves) drops the ones nobody reads again.
 */
export class MemorySessionStore implements SessionStore {
  readonly kind: string = 'memory';
  readonly shared = false;
  protected readonly sessions = new Map<number, Session>();
  private closed = false;

  constructor(private readonly now: () => number = Date.now) {}

  async get(port: number): Promise<Session | undefined> {
    this.assertOpen();
    return this.liveSession(port);
  }

  async getOrCreate(port: number, create: () => Session): Promise<Session> {
    this.assertOpen();
    const existing = this.liveSession(port);
    if (existing) return existing;
    const session = create();
    this.sessions.set(port, session);
    this.changed();
    return session;
  }

  async replace(session: Session): Promise<Session> {
    this.assertOpen();
    this.sessions.set(session.port, session);
    this.changed();
    return session;
  }

  async amend(session: Session): Promise<Session | undefined> {
    this.assertOpen();
    if (this.liveSession(session.port)?.id !== session.id) return undefined;
    this.sessions.set(session.port, session);
    this.changed();
    return session;
  }

  async delete(port: number): Promise<boolean> {
    this.assertOpen();
    const existed = this.liveSession(port) !== undefined;
    if (this.sessions.delete(port)) this.changed();
    return existed;
  }

  async list(): Promise<Session[]> {
    this.assertOpen();
    this.sweep();
    return [...this.sessions.values()];
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  protected sweep(): void {
    const now = this.now();
    for (const [port, session] of this.sessions) {
      if (!isLive(session, now)) this.sessions.delete(port);
    }
  }

  /** Hook for subclasses that persist. */
  protected changed(): void {}

  protected assertOpen(): void {
    if (this.closed) throw new StoreClosedError(this.kind);
  }

  private liveSession(port: number): Session | undefined {
    const session = this.sessions.get(port);
    if (session === undefined) return undefined;
    if (isLive(session, this.now())) return session;
    this.sessions.delete(port);
    return undefined;
  }
}
