import type { StickyportConfig } from '../config/load.js';
import { StickyportError } from '../errors.js';
import type { Logger } from '../logging/logger.js';
import { describePorts, planReload, type ReloadPlan } from './reload-plan.js';

/** What a reload did, for the log, the admin API's answer and the metrics. */
export type ReloadOutcome =
  | {
      readonly applied: true;
      /** Keys applied (for new sessions, or at once). */
      readonly changed: string[];
      /** Ports bound and closed, as ranges ('' = none). */
      readonly added: string;
      readonly removed: string;
      /** Keys whose new value waits for a restart. */
      readonly restartNeeded: string[];
      /** Start-up flags the files now make redundant: refused at start, only said on a reload (absent: none). */
      readonly redundantFlags?: string[];
    }
  | {
      readonly applied: false;
      /** CONFIG_INVALID (the same message as at start-up), LISTEN_FAILED, or RELOAD_UNAVAILABLE. */
      readonly code: string;
      readonly message: string;
    };

export interface ReloaderOptions {
  readonly log: Logger;
  /** Reads the configuration again, with the layers and flags of the start: throws ConfigError. */
  readonly load: ((running: StickyportConfig) => StickyportConfig) | undefined;
  readonly running: () => StickyportConfig;
  /** Carries a plan out: binds and closes ports (or throws, changing nothing), swaps settings. */
  readonly apply: (plan: ReloadPlan) => Promise<{ added: number[]; removed: number[] }>;
  /** Told of every outcome (metrics). */
  readonly reloaded?: (applied: boolean) => void;
}

/**
 * SIGHUP and POST /api/reload: one reload at a time, each re-reading the configuration the way
 * start-up did. A configuration that does not validate, or whose new ports cannot all be bound,
 * is refused and the running one stays; otherwise what a reload can apply is applied and the
 * rest named as waiting for a restart.
 */
export class Reloader {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: ReloaderOptions) {}

  reload(by: string): Promise<ReloadOutcome> {
    const run = this.queue.then(() => this.once(by));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async once(by: string): Promise<ReloadOutcome> {
    const { log, load, running } = this.options;
    const outcome = await this.attempt(load, running());
    this.options.reloaded?.(outcome.applied);
    if (!outcome.applied) {
      log.error({ by, code: outcome.code }, `configuration not reloaded, the running one stays: ${outcome.message}`);
      return outcome;
    }
    const { changed, added, removed, restartNeeded } = outcome;
    log.info({ by, changed, added: added || undefined, removed: removed || undefined }, changed.length > 0 ? 'configuration reloaded' : 'configuration reloaded: nothing changed');
    if (restartNeeded.length > 0) {
      log.warn({ by, restartNeeded }, `changed keys that only a restart applies, kept as they run: ${restartNeeded.join(', ')}`);
    }
    if (outcome.redundantFlags) {
      log.warn({ by, flags: outcome.redundantFlags }, 'start-up flags that the files now make redundant change nothing; a restart without them drops them');
    }
    return outcome;
  }

  private async attempt(load: ReloaderOptions['load'], current: StickyportConfig): Promise<ReloadOutcome> {
    if (!load) return { applied: false, code: 'RELOAD_UNAVAILABLE', message: 'this instance was started without a configuration to read again' };
    let next: StickyportConfig;
    try {
      next = load(current);
    } catch (error) {
      if (!(error instanceof StickyportError)) throw error;
      return { applied: false, code: error.code, message: error.message };
    }
    const plan = planReload(current, next);
    if (plan.refusal) return { applied: false, code: 'CONFIG_INVALID', message: plan.refusal };
    const { admin } = plan.running;
    if (admin.enabled && plan.ports.includes(admin.port)) {
      const range = `${next.listen.portStart}-${next.listen.portEnd}`;
      return {
        applied: false,
        code: 'CONFIG_INVALID',
        message: `Listen.PortRange ${range} includes port ${admin.port}, where the admin server listens: it moves only with a restart`,
      };
    }
    try {
      const { added, removed } = await this.options.apply(plan);
      const applied = { applied: true as const, changed: plan.changed, added: describePorts(added), removed: describePorts(removed), restartNeeded: plan.restartNeeded };
      return next.redundantFlags ? { ...applied, redundantFlags: [...next.redundantFlags] } : applied;
    } catch (error) {
      if (!(error instanceof StickyportError)) throw error;
      return { applied: false, code: error.code, message: error.message };
    }
  }
}
