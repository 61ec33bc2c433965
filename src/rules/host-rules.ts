import type { HostRuleConfig } from '../config/load.js';
import { hostForRules } from './host-pattern.js';

/** Distinct target names whose deciding rule is remembered; beyond it the memory starts over. */
const REMEMBERED_HOSTS = 4_096;

/**
 * A mapping's host rules in the order they are consulted (its own, then the global ones): the
 * first whose pattern matches a target's host decides. The decision for a name is remembered,
 * so a scraper hitting the same few hosts pays for the patterns once per host, not per request.
 */
export class HostRuleSet {
  private readonly decided = new Map<string, HostRuleConfig | null>();

  constructor(readonly rules: readonly HostRuleConfig[]) {}

  get size(): number {
    return this.rules.length;
  }

  /** The rule that decides for `hostname` (as the request wrote it), or undefined: Allow. */
  match(hostname: string): HostRuleConfig | undefined {
    let rule = this.decided.get(hostname);
    if (rule === undefined) {
      const host = hostForRules(hostname);
      rule = this.rules.find((candidate) => candidate.test(host)) ?? null;
      if (this.decided.size >= REMEMBERED_HOSTS) this.decided.clear();
      this.decided.set(hostname, rule);
    }
    return rule ?? undefined;
  }
}
