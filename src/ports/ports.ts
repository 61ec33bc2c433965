import type { SessionStore } from '../store/session-store.js';
import { PortState, type PortStateDeps } from './port-state.js';

/** Every port's state, made on first use; shared-store changes from other instances land here. */
export class Ports {
  private readonly states = new Map<number, PortState>();
  private readonly shared: boolean;

  constructor(
    private readonly deps: Omit<PortStateDeps, 'shared'>,
    store: SessionStore,
  ) {
    this.shared = store.shared;
    store.onRemoteChange?.((port) => void this.states.get(port)?.changedElsewhere());
  }

  get(port: number): PortState {
    let state = this.states.get(port);
    if (!state) {
      state = new PortState(port, { ...this.deps, shared: this.shared });
      this.states.set(port, state);
    }
    return state;
  }

  /** The port's state if it has one, without making it (listings of every port). */
  peek(port: number): PortState | undefined {
    return this.states.get(port);
  }

  /**
   * A port a reload removed: its pooled and tunnelled connections close and its state goes.
   * The session stays in the store, so a port that comes back finds it while it lives.
   */
  release(port: number): void {
    this.states.get(port)?.destroy();
    this.states.delete(port);
  }

  /** Shutdown: every port's pooled and tunnelled connections close. */
  destroy(): void {
    for (const state of this.states.values()) state.destroy();
  }
}
