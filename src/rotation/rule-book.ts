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
 * each port's count of the events they matched. The rules of an answer's head (Status, Header)
 * decide first, in order; an answer none of them took is then looked at by the rules with
 * BodyContains, in order, as its body passes; tunnels that could not be opened go to the rules
 * with ConnectStatus.
 */
export class RuleBook {
  /** Rules an answer's head decides: Status and/or Header, no BodyContains. */
  readonly head: readonly RotationRuleConfig[];
  /** Rules with BodyContains (their Status and Header, if any, must hold too). */
  readonly body: readonly RotationRuleConfig[];
  /** Rules with ConnectStatus. */
  readonly connect: readonly RotationRuleConfig[];
  /** True when plain-HTTP answers have anything to be checked against. */
  readonly watchesAnswers: boolean;
  /** `body`, when none of its rules has a Status or Header of its own: every answer is a candidate. */
  readonly bodyAlways: readonly RotationRuleConfig[] | undefined;
  /** The longest marker's length, less one. */
  readonly markerOverlap: number;
  private readonly ports = new Map<number, PortRotation>();
  private readonly places: ReadonlyMap<RotationRuleConfig, number>;

  constructor(
    readonly rules: readonly RotationRuleConfig[],
    readonly deps: RuleBookDeps,
  ) {
    this.head = rules.filter((rule) => !rule.bodyContains && (rule.status || rule.header));
    this.body = rules.filter((rule) => rule.bodyContains);
    this.connect = rules.filter((rule) => rule.connect);
    this.watchesAnswers = this.head.length + this.body.length > 0;
    this.bodyAlways = this.body.length > 0 && this.body.every((rule) => !rule.status && !rule.header) ? this.body : undefined;
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
