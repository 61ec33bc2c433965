import type { SessionStore } from '../store/session-store.js';
import type { Mapping } from './mapping.js';
import { PortState, type PortStateDeps } from './port-state.js';

/**
 * Every port's state, made on first use, each with the mapping its port belongs to;
 * shared-store changes from other instances land here.
 */
export class Ports {
  private readonly states = new Map<number, PortState>();
  private readonly shared: boolean;

  constructor(
    private readonly deps: Omit<PortStateDeps, 'shared' | 'mapping'>,
    readonly mappings: readonly Mapping[],
    store: SessionStore,
  ) {
    this.shared = store.shared;
    store.onRemoteChange?.((port) => void this.states.get(port)?.changedElsewhere());
  }

  get(port: number): PortState {
    let state = this.states.get(port);
    if (!state) {
      state = new PortState(port, { ...this.deps, mapping: this.mappingOf(port), shared: this.shared });
      this.states.set(port, state);
    }
    return state;
  }

  /** The mapping `port` belongs to (ranges never overlap: the configuration refuses it). */
  mappingOf(port: number): Mapping {
    const mapping = this.mappings.find((candidate) => candidate.owns(port));
    if (!mapping) throw new Error(`port ${port} belongs to no mapping`);
    return mapping;
  }

  /** Shutdown: every port's pooled and tunnelled connections close. */
  destroy(): void {
    for (const state of this.states.values()) state.destroy();
    for (const mapping of this.mappings) mapping.destroy();
  }
}
