import { connectOutcomes, headerValueTest, statusTable, type ConnectFailure, type StatusTable, type TextTest } from '../rotation/rule-values.js';
import { SECOND_MS, parseDuration } from './formats.js';
import { valueAt, type ConfigLayers } from './layers.js';
import type { ConfigProblem } from './problems.js';

/** One rotation rule, read: what it watches, when it acts and how. */
export interface RotationRuleConfig {
  /** Where it is configured: `Rotation.Rules[1]` or `Mappings[0].Rotation.Rules[0]`. */
  readonly source: string;
  /** `Name`, or the source when it has none: what logs and metrics call it. */
  readonly name: string;
  /** Plain-HTTP answers: all of the given ones must hold. */
  readonly status: StatusTable | undefined;
  /** `value` is the setting as written (what a reload compares); `test` applies it. */
  readonly header: { readonly name: string; readonly value: string | undefined; readonly test: TextTest } | undefined;
  readonly bodyContains: Buffer | undefined;
  /** Tunnels the upstream refused: these statuses, or these failures. */
  readonly connect: { readonly statuses: StatusTable; readonly failures: ReadonlySet<ConnectFailure> } | undefined;
  readonly consecutive: number;
  readonly action: 'rotate' | 'rotate-and-retry';
  readonly cooldownMs: number;
}

/** What a rule's Cooldown is when it says nothing: enough to stop a port rotating in a loop. */
export const DEFAULT_COOLDOWN_MS = 30_000;

type Record_ = Record<string, unknown>;

/**
 * A mapping's rotation rules: its own (`Mappings[N].Rotation.Rules`), then the global ones, as
 * host rules are. Each value was checked by its format already; this checks the rule as a whole.
 */
export function rotationRules(own: readonly Record_[], ownSource: string, global: readonly Record_[], problems: ConfigProblem[], layers: ConfigLayers): RotationRuleConfig[] {
  return [
    ...own.map((rule, i) => readRule(rule, `${ownSource}Rotation.Rules[${i}]`, problems, layers)),
    ...global.map((rule, i) => readRule(rule, `Rotation.Rules[${i}]`, problems, layers)),
  ];
}

function readRule(rule: Record_, source: string, problems: ConfigProblem[], layers: ConfigLayers): RotationRuleConfig {
  const when = (rule.When ?? {}) as Record_;
  const header = when.Header as Record_ | undefined;
  if (when.Status === undefined && header === undefined && when.BodyContains === undefined && when.ConnectStatus === undefined) {
    problems.push(layers.problemAt(`${source}.When`, 'must say which events count: Status, Header, BodyContains or ConnectStatus (Consecutive only counts them)', rule.When));
  }
  if (header !== undefined && header.Name === undefined) {
    problems.push(layers.problemAt(`${source}.When.Header.Name`, 'must be set: the header the rule looks at', undefined));
  }
  const cooldown = valueAt(rule, 'Cooldown');
  return {
    source,
    name: (rule.Name as string | undefined) ?? source,
    status: when.Status === undefined ? undefined : statusTable(when.Status),
    header: header?.Name === undefined ? undefined : { name: (header.Name as string).toLowerCase(), value: header.Value as string | undefined, test: headerValueTest(header.Value as string | undefined) },
    bodyContains: when.BodyContains === undefined ? undefined : Buffer.from(when.BodyContains as string, 'utf8'),
    connect: when.ConnectStatus === undefined ? undefined : connectOutcomes(when.ConnectStatus),
    consecutive: (when.Consecutive as number | undefined) ?? 1,
    action: (rule.Action as RotationRuleConfig['action'] | undefined) ?? 'rotate',
    cooldownMs: cooldown === undefined ? DEFAULT_COOLDOWN_MS : parseDuration(cooldown, SECOND_MS)!,
  };
}

/** Rules across the Identity and Session keys: a check or a keep-alive needs a URL to ask. */
export function identityProblems(raw: Record_, layers: ConfigLayers): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const echo = valueAt(raw, 'Identity.EchoUrl');
  const needsEcho = (key: string, on: boolean, what: string): void => {
    if (on && echo === '') {
      problems.push(layers.problemAt(key, `${what} needs Identity.EchoUrl: a URL that answers the caller's IP, such as "http://api.ipify.org/"`, valueAt(raw, key)));
    }
  };
  needsEcho('Identity.CheckOnCreate', valueAt(raw, 'Identity.CheckOnCreate') === true, 'checking a new session');
  needsEcho('Identity.CheckEvery', parseDuration(valueAt(raw, 'Identity.CheckEvery'), SECOND_MS)! > 0, 'checking sessions in use');
  needsEcho('Identity.OnDrift', valueAt(raw, 'Identity.OnDrift') === 'rotate', 'rotating on drift');
  const keepAlive = parseDuration(valueAt(raw, 'Session.KeepAlive'), SECOND_MS)!;
  if (keepAlive > 0 && echo === '' && valueAt(raw, 'Session.KeepAliveUrl') === '') {
    problems.push(layers.problemAt('Session.KeepAlive', 'needs a URL to send keep-alive requests to: set Session.KeepAliveUrl or Identity.EchoUrl', valueAt(raw, 'Session.KeepAlive')));
  }
  return problems;
}
