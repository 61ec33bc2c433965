import type { StickyportConfig } from '../config/load.js';

/** The name of the mapping a port belongs to: what metrics, logs and the ports API group by. */
export type MappingOf = (port: number) => string;

/** A mapping as operators see it: never a password. */
export interface MappingView {
  readonly name: string;
  readonly host: string;
  readonly portStart: number;
  readonly portEnd: number;
  /** The upstream with its password masked, or `direct`. */
  readonly upstream: string;
  /** 0 = sessions never expire. */
  readonly lifetimeMs: number;
}

/** The name of the one mapping of a configuration without `Mappings`. */
export const DEFAULT_MAPPING = 'default';

function viewsOf(config: StickyportConfig): MappingView[] {
  return config.mappings.map((mapping) => ({
    name: mapping.name,
    host: mapping.host,
    portStart: mapping.portStart,
    portEnd: mapping.portEnd,
    upstream: mapping.upstream.members.length === 0 ? 'direct' : mapping.upstream.members.map((member) => member.description).join(', '),
    lifetimeMs: mapping.lifetimeMs,
  }));
}

/**
 * The mappings of the running configuration and which port belongs to which. The one place
 * that knows: everything else asks {@link Mappings.mappingOf}. A reload replaces the views.
 */
export class Mappings {
  private views: readonly MappingView[];

  constructor(config: StickyportConfig) {
    this.views = viewsOf(config);
  }

  update(config: StickyportConfig): void {
    this.views = viewsOf(config);
  }

  list(): readonly MappingView[] {
    return this.views;
  }

  named(name: string): MappingView | undefined {
    return this.views.find((view) => view.name === name);
  }

  /** Every port of every mapping, ascending. */
  ports(): number[] {
    const ports: number[] = [];
    for (const view of this.views) for (let port = view.portStart; port <= view.portEnd; port++) ports.push(port);
    return ports.sort((a, b) => a - b);
  }

  owns(port: number): boolean {
    return this.views.some((view) => port >= view.portStart && port <= view.portEnd);
  }

  readonly mappingOf: MappingOf = (port) => {
    const views = this.views;
    if (views.length === 1) return views[0]!.name;
    return views.find((view) => port >= view.portStart && port <= view.portEnd)?.name ?? DEFAULT_MAPPING;
  };
}
