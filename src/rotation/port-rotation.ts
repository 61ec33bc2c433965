import type { RotationRuleConfig } from '../config/rotation.js';
import { UpstreamError, type StickyportError } from '../errors.js';
import type { PortState } from '../ports/port-state.js';
import type { UpstreamRoute } from '../upstream/route.js';
import { BodyScan, scanCoding, type ScanOutcome, type ThenRule } from './body-scan.js';
import type { RuleBook } from './rule-book.js';
import type { ConnectFailure } from './rule-values.js';

/**
 * What a plain-HTTP answer's head means for its request: a promise (send the request once more,
 * on the port's new session, once it settles; relay nothing of this answer), a BodyScan (look
 * for markers in the body as it passes), or undefined (nothing).
 */
export type AnswerVerdict = Promise<unknown> | BodyScan | undefined;

/**
 * One port under its mapping's rotation rules: how many matching events came in a row for each
 * rule (counted for the port's current session: a rotation, whatever made it, starts the
 * counts again, and so does a success), each rule's cooldown on this port, and the rotation a
 * rule last started, which requests that met the same session join instead of rotating again.
 */
export class PortRotation implements ScanOutcome {
  private countsFor: string | undefined;
  private readonly counts: Uint16Array;
  private readonly coolUntil: Float64Array;
  /** Some count is above 0: a success has something to reset. */
  private dirty = false;
  private last: { readonly from: string; readonly promise: Promise<unknown> } | undefined;
  private readonly answerRules: readonly RotationRuleConfig[];

  constructor(
    private readonly state: PortState,
    private readonly book: RuleBook,
  ) {
    this.counts = new Uint16Array(book.rules.length);
    this.coolUntil = new Float64Array(book.rules.length);
    this.answerRules = book.answers;
  }

  /**
   * An answer's head came back through `route`; `retryable`: its request may be sent again. The
   * rules are walked in their order: the first whose Status and Header hold takes the answer at
   * once, unless rules with BodyContains before it hold too: then the body is scanned for their
   * markers first, and the answer goes to that rule only when none is found. `bodiless`: the
   * answer has no body (HEAD, 204, 304), so the rules with BodyContains cannot take it.
   */
  answered(route: UpstreamRoute, status: number, raw: Buffer[], retryable: boolean, bodiless = false): AnswerVerdict {
    const { answers, body } = this.book;
    // No rule with BodyContains: the first that holds takes it.
    if (body.length === 0) {
      for (let i = 0; i < answers.length; i++) {
        const rule = answers[i]!;
        if (matchesHead(rule, status, raw)) return this.event(rule, route.sessionId, headTrigger(rule, status), retryable, this.answerRules);
      }
      if (this.dirty) this.clean(route.sessionId);
      return undefined;
    }
    let candidates: RotationRuleConfig[] | undefined;
    for (let i = 0; i < answers.length; i++) {
      const rule = answers[i]!;
      if (!matchesHead(rule, status, raw)) continue;
      if (rule.bodyContains) {
        // An answer that has no body (HEAD, 204, 304) holds no marker: the rules after it decide.
        if (!bodiless) (candidates ??= []).push(rule);
        continue;
      }
      const then: ThenRule = { rule, trigger: headTrigger(rule, status) };
      // A body that cannot be scanned holds no marker: the rule takes it now.
      return (candidates && this.scan(candidates, raw, route, then)) ?? this.event(rule, route.sessionId, then.trigger, retryable, this.answerRules);
    }
    const scan = candidates && this.scan(candidates, raw, route);
    if (scan) return scan;
    if (this.dirty) this.clean(route.sessionId);
    return undefined;
  }

  private scan(candidates: readonly RotationRuleConfig[], raw: Buffer[], route: UpstreamRoute, then?: ThenRule): BodyScan | undefined {
    const coding = scanCoding(headerValue(raw, 'content-type'), headerValue(raw, 'content-encoding'));
    return coding && new BodyScan(candidates, this.book.deps.bodyScanBytes, coding, this, route.sessionId, this.book.markerOverlap, then);
  }

  /** Whether `then`'s event on `sessionId` now would retry the request (event() decides by the same standing). */
  thenRetries(then: ThenRule, sessionId: string): boolean {
    const { rule } = then;
    if (rule.action !== 'rotate-and-retry') return false;
    const standing = this.standing(rule, sessionId, Date.now());
    return standing === 'joins' || standing === 'acts' || (standing === 'gone' && rule.consecutive <= 1);
  }

  /**
   * Where an event of `rule` on `sessionId` stands: it joins the rotation a rule already started
   * from that session; the session is gone (another rotation ended it); the rule is cooling down;
   * it only counts toward Consecutive; or it acts.
   */
  private standing(rule: RotationRuleConfig, sessionId: string, now: number): 'joins' | 'gone' | 'cooling' | 'counts' | 'acts' {
    if (this.last?.from === sessionId) return 'joins';
    if (sessionId !== this.state.session?.id) return 'gone';
    const i = this.book.indexOf(rule);
    if (now < this.coolUntil[i]!) return 'cooling';
    const count = this.countsFor === sessionId ? this.counts[i]! : 0;
    return count + 1 < rule.consecutive ? 'counts' : 'acts';
  }

  /** A body scan found none of its markers, and a rule after them had matched the answer's head. */
  thenRule(then: ThenRule, sessionId: string, retryable: boolean): Promise<unknown> | undefined {
    return this.event(then.rule, sessionId, then.trigger, retryable, this.answerRules);
  }

  /** A tunnel through `route` could not be opened; a retry to wait for when a rule says so. */
  tunnelFailed(route: UpstreamRoute, error: StickyportError, retryable: boolean): Promise<unknown> | undefined {
    const outcome = connectOutcome(error);
    if (outcome === undefined) return undefined;
    for (const rule of this.book.connect) {
      const { statuses, failures } = rule.connect!;
      if (typeof outcome === 'number' ? statuses[outcome] === 1 : failures.has(outcome)) {
        return this.event(rule, route.sessionId, `CONNECT ${outcome}`, retryable, this.book.connect);
      }
    }
    return undefined;
  }

  /** A tunnel through `route` opened: a success on the port. */
  tunnelOpened(route: UpstreamRoute): void {
    if (this.dirty) this.clean(route.sessionId);
  }

  /**
   * One event `rule` matched, on session `sessionId`. Counts it; once `Consecutive` came in a
   * row (and not within the rule's cooldown), rotates the port. Answers the promise to wait for
   * before retrying, when the rule is rotate-and-retry and the request may be retried.
   */
  private event(rule: RotationRuleConfig, sessionId: string, trigger: string, retryable: boolean, kind: readonly RotationRuleConfig[]): Promise<unknown> | undefined {
    const wantsRetry = retryable && rule.action === 'rotate-and-retry';
    const { events, log } = this.book.deps;
    const port = this.state.port;
    const now = Date.now();
    const standing = this.standing(rule, sessionId, now);
    // A rule already rotated this session away: the request goes again on the new one (or not).
    if (standing === 'joins') return wantsRetry ? this.retrying(rule, this.last!.promise) : undefined;
    // Another rotation (the API, another instance, expiry) already ended this session: there is
    // nothing left to rotate, but a rule that fires on one event still sends the request once
    // more, on the session the port has now, before the client sees the failure.
    if (standing === 'gone') return wantsRetry && rule.consecutive <= 1 ? this.retrying(rule, Promise.resolve()) : undefined;
    if (this.countsFor !== sessionId) {
      this.counts.fill(0);
      this.countsFor = sessionId;
    }
    if (standing === 'cooling') {
      if (log.isLevelEnabled('debug')) log.debug({ port, rule: rule.name, trigger, sessionId }, 'rotation rule matched, held by its cooldown');
      return undefined;
    }
    const i = this.book.indexOf(rule);
    // In a row: this event breaks the run of every other rule of its kind.
    for (const other of kind) if (other !== rule) this.counts[this.book.indexOf(other)] = 0;
    this.dirty = true;
    this.counts[i]!++;
    if (standing === 'counts') return undefined;
    this.counts.fill(0);
    this.dirty = false;
    this.coolUntil[i] = now + rule.cooldownMs;
    const promise = this.state.renewFrom(sessionId).then(
      (session) => {
        if (session === undefined) {
          log.info({ port, rule: rule.name, trigger, previousId: sessionId }, 'rotation rule matched a session another rotation had already ended: not rotated again');
          return;
        }
        log.info({ port, rule: rule.name, source: rule.source, trigger, action: rule.action, previousId: sessionId, sessionId: session.id }, 'session rotated by rule');
        events.emit({ type: 'rule-rotation', port, rule: rule.name, previousId: sessionId, trigger, retried: wantsRetry });
      },
      (error: Error) => log.warn({ port, rule: rule.name, trigger, previousId: sessionId }, `rotation rule could not rotate the session: ${error.message}`),
    );
    this.last = { from: sessionId, promise };
    return wantsRetry ? this.retrying(rule, promise) : undefined;
  }

  private retrying(rule: RotationRuleConfig, rotation: Promise<unknown>): Promise<unknown> {
    this.book.deps.events.emit({ type: 'rule-retry', port: this.state.port, rule: rule.name });
    return rotation;
  }

  /** A body scan found `rule`'s marker in an answer that came on `sessionId`. */
  found(rule: RotationRuleConfig, sessionId: string, retryable: boolean): Promise<unknown> | undefined {
    return this.event(rule, sessionId, `body contains ${JSON.stringify(rule.bodyContains!.toString('utf8'))}`, retryable, this.answerRules);
  }

  /**
   * A success on the port (an answer no rule took, a body scanned without a marker, a tunnel
   * opened): every rule's run of events in a row ends, whatever kind of traffic it watches.
   */
  clean(sessionId: string): void {
    if (!this.dirty || this.countsFor !== sessionId) return;
    this.counts.fill(0);
    this.dirty = false;
  }
}

function headTrigger(rule: RotationRuleConfig, status: number): string {
  return rule.status ? `status ${status}` : `header ${rule.header!.name}`;
}

function matchesHead(rule: RotationRuleConfig, status: number, raw: Buffer[]): boolean {
  if (rule.status && rule.status[status] !== 1) return false;
  const header = rule.header;
  if (!header) return true;
  for (let i = 0; i < raw.length; i += 2) {
    if (isNamed(raw[i]!, header.name) && header.test(raw[i + 1]!.toString('latin1'))) return true;
  }
  return false;
}

function headerValue(raw: Buffer[], lowerName: string): string | undefined {
  for (let i = 0; i < raw.length; i += 2) if (isNamed(raw[i]!, lowerName)) return raw[i + 1]!.toString('latin1');
  return undefined;
}

/** `name` is `lower` in any case; compared in place, since every answer's every header passes here. */
function isNamed(name: Buffer, lower: string): boolean {
  if (name.length !== lower.length) return false;
  for (let i = 0; i < name.length; i++) {
    const want = lower.charCodeAt(i);
    const got = name[i]!;
    if (got !== want && !(want >= 97 && want <= 122 && got === want - 32)) return false;
  }
  return true;
}

/** A tunnel failure as ConnectStatus names it: the upstream's status, or refused, timeout, reset. */
function connectOutcome(error: StickyportError): number | ConnectFailure | undefined {
  switch (error.code) {
    case 'UPSTREAM_REFUSED':
      return 'refused';
    case 'UPSTREAM_TIMEOUT':
      return 'timeout';
    case 'UPSTREAM_RESET':
      return 'reset';
    case 'UPSTREAM_STATUS':
    case 'UPSTREAM_AUTH':
      return error instanceof UpstreamError ? error.upstreamStatus : undefined;
    default:
      return undefined;
  }
}
