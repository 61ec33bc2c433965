import { isIP } from 'node:net';
import { canonicalHost } from '../proxy/target-host.js';
import { compileHostPattern, type HostTest } from '../rules/host-pattern.js';
import type { UpstreamPlan } from '../upstream/upstream-member.js';
import { MINUTE_MS, isLoopbackHost, parseDuration } from './formats.js';
import { valueAt, type ConfigLayers } from './layers.js';
import type { ConfigProblem } from './problems.js';
import { rotationRules, type RotationRuleConfig } from './rotation.js';
import { resolveUpstreamPlan, type Setting } from './upstream-plan.js';

/** One host rule, compiled: what a target host matching `test` gets. */
export interface HostRuleConfig {
  /** Where it is configured: `HostRules[2]` or `Mappings[0].HostRules[1]`. */
  readonly source: string;
  readonly pattern: string;
  readonly test: HostTest;
  readonly action: 'Allow' | 'Deny' | 'Bypass';
  readonly overrideHost: string | undefined;
  readonly overridePort: number | undefined;
  /** The rule's own upstream (Allow only): a route of its own per session. */
  readonly upstream: UpstreamPlan | undefined;
}

/** A range of ports with its own upstream, lifetime, login and host rules. */
export interface MappingConfig {
  readonly name: string;
  /** `Mappings[0]`, or `` for the one mapping the top-level keys make when there is no Mappings. */
  readonly source: string;
  readonly host: string;
  readonly portStart: number;
  readonly portEnd: number;
  /** 0 = sessions never expire on their own. */
  readonly lifetimeMs: number;
  /** CONNECT only: plain proxied HTTP gets 403. */
  readonly rejectHttpProxy: boolean;
  /** Listen.AllowPrivateTargets, "auto" resolved for this mapping's host. */
  readonly allowPrivateTargets: boolean;
  readonly upstream: UpstreamPlan;
  readonly auth: {
    readonly required: boolean;
    readonly username: string;
    readonly password: string;
    readonly parseUsernameParameters: boolean;
  };
  /** The mapping's own rules, then the global ones: the first that matches decides. */
  readonly hostRules: readonly HostRuleConfig[];
  /** The mapping's own rotation rules, then the global ones: the first whose When matches counts an event. */
  readonly rotationRules: readonly RotationRuleConfig[];
}

type Settings = Record<string, unknown>;
type Record_ = Record<string, unknown>;

/** How one mapping sees a key: its own value if it sets one, else the top level's. */
interface View {
  readonly name: string;
  readonly source: string;
  get(path: string): Setting;
  /** True when the mapping itself sets `path`. */
  sets(path: string): boolean;
}

const UPSTREAM_SOURCES = ['Upstream.Url', 'Upstream.Urls', 'Upstream.Preset'];

/**
 * The mappings the configuration describes: `Mappings`, or one mapping named `default` made of
 * the top-level keys. Every rule across keys is checked here, per mapping, with messages naming
 * the key that holds each value (`Mappings[1].Listen.Port`, or `Listen.Host` when a mapping
 * inherits it).
 */
export function resolveMappings(
  raw: Settings,
  layers: ConfigLayers,
  /** A reload: a start-up flag the new file makes redundant is said (`redundantFlags`), not refused. */
  reloading = false,
): { mappings: MappingConfig[]; problems: ConfigProblem[]; redundantFlags: string[]; inertEnvironment: string[] } {
  const problems: ConfigProblem[] = [];
  const top = (path: string): Setting => ({ value: topValue(raw, layers, path), key: path });
  const list = layers.structuredValue('Mappings') as Record_[];
  const views: View[] =
    list.length === 0
      ? [{ name: 'default', source: '', get: top, sets: () => false }]
      : list.map((mapping, i) => mappingView(mapping, i, top));
  const mappings = views.map((view) => resolveMapping(view, raw, layers, problems));
  problems.push(...overlaps(mappings, views, layers));
  if (list.length > 0) problems.push(...duplicateNames(mappings, views, layers));
  const flags = list.length > 0 ? topLevelNoMappingTakes(views, layers, 'flag') : [];
  // The environment often holds settings for more than one run (a container's): said, not refused.
  // (An empty one, `STICKYPORT_UPSTREAM_URL=` from a compose file's unset variable, says nothing.)
  const inertEnvironment =
    list.length > 0 ? topLevelNoMappingTakes(views, layers, 'environment').filter((problem) => top(problem.key).value !== '').map((problem) => `${problem.origin} ${problem.text}`) : [];
  // At start the operator can drop the flag; on a reload only a restart can, and a refusal then
  // blocked every reload until one (the edited file is what made the flag redundant).
  if (!reloading) problems.push(...flags);
  const redundantFlags = reloading ? flags.map((flag) => `${flag.key} (${flag.origin}) ${flag.text}`) : [];
  return { mappings, problems: unique(problems), redundantFlags, inertEnvironment };
}

/**
 * A flag sets a top-level key, which is only the mappings' default: when every mapping sets its
 * own, the flag would do nothing, and a run that ignores what the command line says is refused.
 * An environment variable that does nothing for the same reason is said at start-up and by
 * `stickyport check`.
 */
const FLAG_KEYS: ReadonlyArray<{ key: string; origin: string; flag?: string; owns: (view: View) => boolean; effect: string }> = [
  // A range's Start alone takes its End from the top level, which the flag sets.
  { key: 'Listen.PortRange', origin: 'Listen.PortRange.Start', owns: (view) => view.sets('Listen.Port') || (view.sets('Listen.PortRange.Start') && view.sets('Listen.PortRange.End')), effect: 'names its own ports: it would bind nothing' },
  { key: 'Upstream.Url', origin: 'Upstream.Url', flag: 'flag --upstream', owns: (view) => UPSTREAM_SOURCES.some((path) => view.sets(path)), effect: 'names its own upstream: it would change nothing' },
  { key: 'Upstream.Preset', origin: 'Upstream.Preset', flag: 'flag --preset', owns: (view) => UPSTREAM_SOURCES.some((path) => view.sets(path)), effect: 'names its own upstream: it would change nothing' },
  { key: 'Listen.StickyProxyLifetime', origin: 'Listen.StickyProxyLifetime', owns: (view) => view.sets('Listen.StickyProxyLifetime'), effect: 'sets its own lifetime: it would change nothing' },
  { key: 'Listen.Host', origin: 'Listen.Host', owns: (view) => view.sets('Listen.Host'), effect: 'sets its own host: it would change nothing' },
];

/** The top-level keys a flag (or an environment variable) set that every mapping sets for itself. */
function topLevelNoMappingTakes(views: readonly View[], layers: ConfigLayers, from: 'flag' | 'environment'): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  for (const { key, origin: at, flag, owns, effect } of FLAG_KEYS) {
    const origin = layers.originOf(at) ?? '';
    // (--upstream and --preset each set both keys, the other one to "": only its own is named.)
    const given = from === 'environment' ? origin.startsWith('environment variable ') : flag === undefined ? origin.startsWith('flag ') : origin === flag;
    if (given && views.every(owns)) {
      const how = from === 'environment' ? `sets ${key}` : 'was given on the command line';
      problems.push({ key, text: `${how}, but every one of Mappings ${effect}`, origin });
    }
  }
  return problems;
}

function topValue(raw: Settings, layers: ConfigLayers, path: string): unknown {
  const value = valueAt(raw, path);
  return value === undefined ? layers.structuredValue(path) : value;
}

function mappingView(mapping: Record_, index: number, top: (path: string) => Setting): View {
  const source = `Mappings[${index}]`;
  const sets = (path: string): boolean => valueAt(mapping, path) !== undefined;
  // Url, Urls and Preset are one choice: a mapping naming any of them takes none from the top.
  const ownUpstream = UPSTREAM_SOURCES.some(sets);
  return {
    name: (mapping.Name as string | undefined) ?? `mapping-${index + 1}`,
    source,
    sets,
    get(path) {
      if (sets(path)) return { value: valueAt(mapping, path), key: `${source}.${path}` };
      if (ownUpstream && UPSTREAM_SOURCES.includes(path)) return { value: path === 'Upstream.Urls' ? [] : '', key: `${source}.${path}` };
      return top(path);
    },
  };
}

function resolveMapping(view: View, raw: Settings, layers: ConfigLayers, problems: ConfigProblem[]): MappingConfig {
  const problem = (key: string, text: string, value: unknown): ConfigProblem => layers.problemAt(key, text, value);
  const host = view.get('Listen.Host').value as string;
  const [portStart, portEnd] = ports(view, layers, problems);
  const lifetime = view.get('Listen.StickyProxyLifetime');
  const lifetimeMs = parseDuration(lifetime.value, MINUTE_MS)!;
  const required = view.get('Authentication.Required');
  const username = view.get('Authentication.Username');
  const password = view.get('Authentication.Password');
  if (required.value === true && (!username.value || !password.value)) {
    const missing = username.value ? password : username;
    problems.push(problem(missing.key, `must be set: ${required.key} is true (from ${layers.originOf(required.key)}), which needs both Username and Password`, missing.value));
  }
  // A login the client could never send: Basic splits user:password at the first ":", and a
  // blank one would count as "a client login" for a public bind while asking nothing.
  if (typeof username.value === 'string' && username.value.includes(':')) {
    problems.push(problem(username.key, 'must not hold ":": a proxy login is sent as user:password, split at the first ":", so no client could log in as this user', username.value));
  }
  for (const setting of [username, password]) {
    if (typeof setting.value === 'string' && setting.value !== '' && setting.value.trim() === '') {
      problems.push(problem(setting.key, 'must not be blank (spaces only): set a real one, or leave it empty', setting.value));
    }
  }
  const hostSetting = view.get('Listen.Host');
  if (!isLoopbackHost(host) && required.value !== true && raw.Listen && !(raw.Listen as Settings).AllowUnauthenticatedPublic) {
    problems.push(problem(
      hostSetting.key,
      `is not a loopback address and ${required.key} is false: that would be an open proxy. ` +
        `Turn ${required.key} on, or set Listen.AllowUnauthenticatedPublic to true if this is really wanted`,
      host,
    ));
  }
  const allowPrivate = (raw.Listen as Settings).AllowPrivateTargets;
  const session = raw.Session as { IdLength: number; IdAlphabet: string };
  const planContext = {
    lifetime: { ...lifetime, ms: lifetimeMs },
    idLength: session.IdLength,
    idAlphabet: session.IdAlphabet,
    portEnd,
    problem,
    originOf: (key: string) => layers.originOf(key),
  };
  const upstream = resolveUpstreamPlan({ ...planContext, get: (path) => view.get(path) }, problems);
  const own = view.sets('HostRules') ? (view.get('HostRules').value as Record_[]) : [];
  const global = layers.structuredValue('HostRules') as Record_[];
  const rules = [
    ...own.map((rule, i) => ({ rule, source: `${view.source}.HostRules[${i}]` })),
    ...global.map((rule, i) => ({ rule, source: `HostRules[${i}]` })),
  ].map(({ rule, source }) => hostRule(rule, source, { ...planContext, inheritedParameters: upstream.parameters }, problems));
  const ownRotation = view.sets('Rotation.Rules') ? (view.get('Rotation.Rules').value as Record_[]) : [];
  const rotation = rotationRules(ownRotation, `${view.source}.`, layers.structuredValue('Rotation.Rules') as Record_[], problems, layers);
  return {
    name: view.name,
    source: view.source,
    host,
    portStart,
    portEnd,
    lifetimeMs,
    rejectHttpProxy: view.get('Listen.RejectHttpProxy').value === true,
    // Direct routes reaching 10.x or 127.x from a proxy others can use is an SSRF hole;
    // for a proxy only this machine reaches, those targets are usually the point.
    allowPrivateTargets: allowPrivate === 'auto' ? isLoopbackHost(host) : allowPrivate === true,
    upstream,
    auth: {
      required: required.value === true,
      username: username.value as string,
      password: password.value as string,
      parseUsernameParameters: view.get('Authentication.ParseUsernameParameters').value === true,
    },
    hostRules: rules,
    rotationRules: rotation,
  };
}

function ports(view: View, layers: ConfigLayers, problems: ConfigProblem[]): [number, number] {
  if (view.sets('Listen.Port')) {
    const port = view.get('Listen.Port');
    if (view.sets('Listen.PortRange')) {
      problems.push({ key: `${view.source}.Listen.Port`, text: `and ${view.source}.Listen.PortRange both name the ports: give one`, origin: layers.originOf(port.key), shown: String(port.value) });
    }
    return [port.value as number, port.value as number];
  }
  const start = view.get('Listen.PortRange.Start');
  const end = view.get('Listen.PortRange.End');
  const [first, last] = [start.value as number, end.value as number];
  if (last < first) {
    const key = view.sets('Listen.PortRange') ? `${view.source}.Listen.PortRange` : 'Listen.PortRange';
    problems.push({ key, text: `End ${last} (from ${layers.originOf(end.key)}) is below Start ${first} (from ${layers.originOf(start.key)}): the range is reversed` });
  }
  return [first, last];
}

function hostRule(
  rule: Record_,
  source: string,
  context: Omit<Parameters<typeof resolveUpstreamPlan>[0], 'get'>,
  problems: ConfigProblem[],
): HostRuleConfig {
  const pattern = rule.Pattern as string | undefined;
  if (pattern === undefined) problems.push({ key: `${source}.Pattern`, text: 'must be set: the host names the rule is for', origin: context.originOf?.(`${source}.Pattern`) });
  const compiled = compileHostPattern(pattern ?? '*');
  const action = (rule.Action as HostRuleConfig['action'] | undefined) ?? 'Allow';
  const upstreamSection = rule.Upstream as Record_ | undefined;
  const overrides = rule.OverrideHost !== undefined || rule.OverridePort !== undefined;
  if (action === 'Deny' && (overrides || upstreamSection)) {
    problems.push(context.problem(`${source}.Action`, 'is Deny, which sends nothing anywhere: drop the rule\'s OverrideHost, OverridePort and Upstream', action));
  }
  if (action === 'Bypass' && upstreamSection) {
    problems.push(context.problem(`${source}.Upstream`, 'is set on a Bypass rule, which connects directly: drop it, or make the Action Allow', upstreamSection));
  }
  // In the one spelling a client's target gets (tunnels: canonicalHost; plain HTTP: WHATWG URL):
  // `127.1`, `0x7f.0.0.1` or `2130706433` as 127.0.0.1. Taken as written, the private-target
  // check did not see an address in it, and undici's URL turned it into one that net.connect
  // never looks up: a direct request reached the host's own loopback services.
  let overrideHost: string | undefined;
  if (rule.OverrideHost !== undefined) {
    const written = rule.OverrideHost as string;
    // A port after the host (`127.0.0.1:8080`, `[::1]:8080`) was dropped without a word.
    const withPort = written.startsWith('[') ? !written.endsWith(']') : isIP(written) !== 6 && written.includes(':');
    overrideHost = /^[A-Za-z0-9._:[\]-]+$/.test(written) && !withPort ? canonicalHost(written) : undefined;
    if (overrideHost === undefined) {
      const text = withPort ? 'must be a host name or an address without a port: give the port as OverridePort' : 'must be a host name or an address';
      problems.push(context.problem(`${source}.OverrideHost`, text, rule.OverrideHost));
    }
  }
  let upstream: UpstreamPlan | undefined;
  if (upstreamSection) {
    const get = (path: string): Setting => {
      const value = valueAt(rule, path);
      const empty = path === 'Upstream.Urls' ? [] : path === 'Upstream.Parameters' ? {} : path === 'Upstream.Port' ? 0 : '';
      return { value: value ?? empty, key: `${source}.${path}` };
    };
    upstream = resolveUpstreamPlan({ ...context, get }, problems);
    if (upstream.members.length === 0 && !problems.some((p) => p.key.startsWith(`${source}.Upstream`))) {
      problems.push(context.problem(`${source}.Upstream`, 'names no upstream: give Url, Urls or Preset (Action Bypass connects directly)', upstreamSection));
    }
  }
  return {
    source,
    pattern: pattern ?? '',
    test: typeof compiled === 'string' ? () => false : compiled,
    action,
    overrideHost,
    overridePort: rule.OverridePort as number | undefined,
    upstream,
  };
}

function describePorts(mapping: MappingConfig): string {
  return mapping.portStart === mapping.portEnd ? `${mapping.portStart}` : `${mapping.portStart}-${mapping.portEnd}`;
}

/** Each port belongs to one mapping: sessions are stored per port, whatever the host. */
function overlaps(mappings: MappingConfig[], views: View[], layers: ConfigLayers): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const order = mappings.map((_, i) => i).sort((a, b) => mappings[a]!.portStart - mappings[b]!.portStart);
  for (let k = 1; k < order.length; k++) {
    const later = mappings[order[k]!]!;
    for (const i of order.slice(0, k)) {
      const earlier = mappings[i]!;
      if (earlier.portEnd < later.portStart) continue;
      const view = views[order[k]!]!;
      const key = view.sets('Listen.Port') ? `${view.source}.Listen.Port` : `${view.source}.Listen.PortRange`;
      const last = Math.min(earlier.portEnd, later.portEnd);
      const shared = last === later.portStart ? `port ${last}` : `ports ${later.portStart}-${last}`;
      problems.push({
        key,
        text: `${describePorts(later)} of mapping "${later.name}" overlaps ${describePorts(earlier)} of mapping "${earlier.name}" (${earlier.source}) ` +
          `at ${shared}: a port belongs to one mapping (sessions are kept per port, even on different hosts)`,
        origin: layers.originOf(key),
      });
    }
  }
  return problems;
}

function duplicateNames(mappings: MappingConfig[], views: View[], layers: ConfigLayers): ConfigProblem[] {
  const seen = new Map<string, string>();
  const problems: ConfigProblem[] = [];
  mappings.forEach((mapping, i) => {
    const first = seen.get(mapping.name);
    const key = `${views[i]!.source}.Name`;
    if (first) problems.push({ key, text: `"${mapping.name}" is also the name of ${first}: names must differ`, origin: layers.originOf(key) });
    else seen.set(mapping.name, views[i]!.source);
  });
  return problems;
}

/** A global rule is checked once per mapping: say each problem once. */
function unique(problems: ConfigProblem[]): ConfigProblem[] {
  const seen = new Set<string>();
  return problems.filter((problem) => {
    const id = `${problem.key}\0${problem.text}`;
    if (seen.has(id)) return false;
    seen.add(id);
    return true;
  });
}
