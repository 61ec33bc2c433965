import type { SessionStore } from '../store/session-store.js';
import type { Mapping } from './mapping.js';
import { PortState, type PortStateDeps } from './port-state.js';

/**
 * Every port's state, made on first use, each with the mapping its port belongs to;
 * shared-store changes from other instances land here.
 */
export class Ports {
  private readonly states = new Map<number, PortState>();
  /** Mappings a reload replaced: sessions made by them may still run; closed at shutdown. */
  private readonly replaced: Mapping[] = [];
  private readonly shared: boolean;

  constructor(
    private readonly deps: Omit<PortStateDeps, 'shared' | 'mapping'>,
    private mappings: readonly Mapping[],
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

  /**
   * The port's state, or undefined once a reload has taken the port out: what was still under
   * way on it (a retry, a failure to count) finds nothing rather than throwing.
   */
  served(port: number): PortState | undefined {
    return this.states.get(port) ?? (this.mappings.some((mapping) => mapping.owns(port)) ? this.get(port) : undefined);
  }

  /** The mapping `port` belongs to (ranges never overlap: the configuration refuses it). */
  mappingOf(port: number): Mapping {
    const mapping = this.mappings.find((candidate) => candidate.owns(port));
    if (!mapping) throw new Error(`port ${port} belongs to no mapping`);
    return mapping;
  }

  /** Every mapping served now. */
  get all(): readonly Mapping[] {
    return this.mappings;
  }

  /**
   * A reload's mappings: new ports are made with them, and each port served on takes up its
   * mapping's new settings for the sessions it makes from now on (PortState.useMapping).
   */
  replaceMappings(next: readonly Mapping[]): void {
    const previous = this.mappings;
    for (const mapping of previous) if (!next.includes(mapping)) this.replaced.push(mapping);
    this.mappings = next;
    // A session may still run on the settings of a mapping its port has left (a reload moved
    // the port): that mapping's own change reaches it (PortState.useMapping).
    const lineage = (name: string) => ({ before: previous.find((mapping) => mapping.name === name), after: next.find((mapping) => mapping.name === name) });
    for (const [port, state] of this.states) {
      const mapping = next.find((candidate) => candidate.owns(port));
      if (mapping) state.useMapping(mapping, lineage);
    }
    this.retireUnused();
  }

  /**
   * Replaced mappings no port's session or settings use any more are let go (their bypass
   * route finishes what it carries): a reload every few seconds kept every one of them, a few
   * KB each, until shutdown. Those still in use are looked at again at the next reload.
   */
  private retireUnused(): void {
    const used = new Set<Mapping>();
    for (const state of this.states.values()) used.add(state.mapping.origin).add(state.policy);
    for (let i = this.replaced.length - 1; i >= 0; i--) {
      const mapping = this.replaced[i]!;
      if (used.has(mapping)) continue;
      mapping.retire();
      this.replaced.splice(i, 1);
    }
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
    for (const mapping of [...this.mappings, ...this.replaced]) mapping.destroy();
  }
}
