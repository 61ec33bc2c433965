import type { Session } from '../session/session.js';
import type { ChangeOptions, SessionStore, StoreHealth } from '../store/session-store.js';

export type StoreOperationListener = (operation: string, ok: boolean) => void;

/**
 * A session store that counts its operations, for the metrics: the backend is untouched and
 * everything else passes through (remote changes, health, flush). An operation that rejects counts
 * as an error; the Redis store serving from its local copy resolves, and counts as ok.
 */
export class InstrumentedStore implements SessionStore {
  readonly kind: string;
  readonly shared: boolean;

  constructor(
    private readonly store: SessionStore,
    private readonly counted: StoreOperationListener,
  ) {
    this.kind = store.kind;
    this.shared = store.shared;
  }

  get(port: number): Promise<Session | undefined> {
    return this.count('get', this.store.get(port));
  }

  getOrCreate(port: number, create: () => Session): Promise<Session> {
    return this.count('get_or_create', this.store.getOrCreate(port, create));
  }

  replace(session: Session, options?: ChangeOptions): Promise<Session> {
    return this.count('replace', this.store.replace(session, options));
  }

  amend(session: Session): Promise<Session | undefined> {
    return this.count('amend', this.store.amend(session));
  }

  delete(port: number, options?: ChangeOptions): Promise<boolean> {
    return this.count('delete', this.store.delete(port, options));
  }

  list(): Promise<Session[]> {
    return this.count('list', this.store.list());
  }

  close(): Promise<void> {
    return this.store.close();
  }

  onRemoteChange(listener: (port: number) => void): void {
    this.store.onRemoteChange?.(listener);
  }

  health(): StoreHealth {
    return this.store.health?.() ?? { state: 'up', outages: 0 };
  }

  async flush(port: number): Promise<void> {
    await this.store.flush?.(port);
  }

  private count<T>(operation: string, result: Promise<T>): Promise<T> {
    result.then(
      () => this.counted(operation, true),
      () => this.counted(operation, false),
    );
    return result;
  }
}
