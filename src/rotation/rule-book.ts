import type { RotationRuleConfig } from '../config/rotation.js';
import type { IdentityEvents } from '../identity/identity-events.js';
import type { Logger } from '../logging/logger.js';
import type { PortState } from '../ports/port-state.js';
import { PortRotation } from './port-rotation.js';

export interface RuleBookDeps {
  readonly events: IdentityEvents;
  readonly log: Logger;
  /** Rotation.BodyScanKiB in bytes. */
  readonly bodyScanBytes: number;
}

/**
 * One mapping's rotation rules (its own, then the global ones), sorted by what they watch, and
 * each port's count of the events they matched. Plain-HTTP answers go to the rules with Status,
 * Header or BodyContains, in their order (port-rotation.ts: a rule with BodyContains decides
 * once the body's first bytes are read, before any rule after it); tunnels that could not be
 * opened go to the rules with ConnectStatus.
 */
export class RuleBook {
  /** Rules plain-HTTP answers go to, in their order: Status, Header and/or BodyContains. */
  readonly answers: readonly RotationRuleConfig[];
  /** Rules with BodyContains (their Status and Header, if any, must hold too). */
  readonly body: readonly RotationRuleConfig[];
  /** Rules with ConnectStatus. */
  readonly connect: readonly RotationRuleConfig[];
  /** True when plain-HTTP answers have anything to be checked against. */
  readonly watchesAnswers: boolean;
  /** The longest marker's length, less one. */
  readonly markerOverlap: number;
  private readonly ports = new Map<number, PortRotation>();
  private readonly places: ReadonlyMap<RotationRuleConfig, number>;

  constructor(
    readonly rules: readonly RotationRuleConfig[],
    readonly deps: RuleBookDeps,
  ) {
    this.answers = rules.filter((rule) => rule.bodyContains || rule.status || rule.header);
    this.body = rules.filter((rule) => rule.bodyContains);
    this.connect = rules.filter((rule) => rule.connect);
    this.watchesAnswers = this.answers.length > 0;
    this.markerOverlap = Math.max(0, ...this.body.map((rule) => rule.bodyContains!.length)) - 1;
    this.places = new Map(rules.map((rule, i) => [rule, i]));
  }

  /** The port's rule state: counts, cooldowns, the rotation a rule started. */
  forPort(state: PortState): PortRotation {
    let rotation = this.ports.get(state.port);
    if (!rotation) {
      rotation = new PortRotation(state, this);
      this.ports.set(state.port, rotation);
    }
    return rotation;
  }

  /** The index of `rule` in `rules`: where its count and cooldown are kept. */
  indexOf(rule: RotationRuleConfig): number {
    return this.places.get(rule)!;
  }
}
