import { presetIdProblem, presetLifetimeProblem, presetMember, PRESET_PARAMETERS, type PresetName } from '../upstream/presets.js';
import { templateMember, type UpstreamMember, type UpstreamPlan } from '../upstream/upstream-member.js';
import { parseUpstreamTemplate, socks5LoginProblem } from '../upstream/upstream-url.js';
import type { ConfigProblem } from './problems.js';
import { withoutPasswordPieces } from './value-formats.js';

/** A key's effective value and the key it was set under (for messages). */
export interface Setting {
  readonly value: unknown;
  readonly key: string;
}

export interface PlanContext {
  /** `Upstream.Url` -> its value and key, as the mapping (or host rule) sees it. */
  readonly get: (path: string) => Setting;
  readonly lifetime: Setting & { readonly ms: number };
  readonly idLength: number;
  readonly idAlphabet: string;
  /** The mapping's highest local port, which `{port}` may render (65535 when unknown). */
  readonly portEnd?: number;
  /** Parameters declared where this upstream leaves them out (a host rule takes its mapping's). */
  readonly inheritedParameters?: Readonly<Record<string, string>>;
  readonly problem: (key: string, text: string, value: unknown) => ConfigProblem;
  /** The layer a key's value came from, when the configuration's layers know it. */
  readonly originOf?: (key: string) => string | undefined;
}

/**
 * The upstream of a mapping or host rule: `Url`, `Urls` or `Preset` (one of them), the parameters
 * its templates may hold, and, for a preset, the account and the provider's limits on lifetime
 * and ids. Problems name the key that holds the offending value.
 */
export function resolveUpstreamPlan(context: PlanContext, problems: ConfigProblem[]): UpstreamPlan {
  const { get } = context;
  const url = get('Upstream.Url');
  const urls = get('Upstream.Urls');
  const preset = get('Upstream.Preset');
  const named = [url.value !== '' && url, (urls.value as unknown[]).length > 0 && urls, preset.value !== '' && preset].filter(Boolean) as Setting[];
  if (named.length > 1) {
    // Each from its own layer (a file's Urls, a flag's --upstream): say where the other one came from too.
    const otherOrigin = context.originOf?.(named[0]!.key);
    const other = otherOrigin ? `${named[0]!.key} (from ${otherOrigin})` : named[0]!.key;
    problems.push(context.problem(named[1]!.key, `and ${other} both name the upstream: give Url, Urls or Preset, one of them`, named[1]!.value));
    return { members: [], parameters: {} };
  }
  const declaredSetting = get('Upstream.Parameters');
  const ownParameters = declaredSetting.value as Record<string, string>;
  const parameters = Object.keys(ownParameters).length > 0 || !context.inheritedParameters ? ownParameters : context.inheritedParameters;
  if (preset.value !== '') return withDefaultsChecked(presetPlan(context, preset, parameters, declaredSetting.key, problems), context, declaredSetting.key, ownParameters, problems);
  const templates: Setting[] =
    url.value !== '' ? [url] : (urls.value as string[]).map((value, i) => ({ value, key: `${urls.key}[${i}]` }));
  if (templates.length === 0) {
    if (Object.keys(ownParameters).length > 0) {
      problems.push(context.problem(declaredSetting.key, 'declares parameters, but there is no upstream to put them in: set Upstream.Url, Urls or Preset', ownParameters));
    }
    return { members: [], parameters: {} };
  }
  const declared = new Set(Object.keys(parameters));
  const members: UpstreamMember[] = [];
  for (const template of templates) {
    const raw = template.value as string;
    try {
      const parsed = parseUpstreamTemplate(raw, declared);
      for (const name of declared) {
        // Rule upstreams may ignore what their mapping declares; a declaration of their own must be used.
        if (parsed.parameters.includes(name) || parameters !== ownParameters) continue;
        // --upstream replaces a file's preset, not the parameters the file declared beside it.
        const fromFlag = context.originOf?.(template.key) === 'flag --upstream' ? ` (--upstream replaced the upstream, not the parameters declared with it: name {${name}} in the URL, or drop the parameter)` : '';
        problems.push(context.problem(`${declaredSetting.key}.${name}`, `is declared, but ${template.key} has no {${name}} placeholder to put it in${fromFlag}`, parameters[name]));
      }
      const member = templateMember(parsed);
      // The template alone was checked with a short sample id: its login with an id of the
      // configured length, the mapping's highest port and the defaults must fit SOCKS5 too.
      const sample = { session: 'x'.repeat(context.idLength), port: context.portEnd ?? 65_535, lifetimeMs: context.lifetime.ms, params: parameters };
      const tooLong = socks5LoginProblem(member.render(sample));
      if (tooLong) problems.push(context.problem(template.key, `with an id of Session.IdLength (${context.idLength}) and the default parameters, ${tooLong}`, raw));
      // Host names are case-blind, and a trailing dot names the same host: `Gate.example.:1` is `gate.example:1`.
      const twin = members.find((other) => sameEndpoint(other.key, member.key));
      if (twin) problems.push(context.problem(template.key, `has the same host and port (${member.key}) as another member: a pool tells its members apart by them`, raw));
      members.push(member);
    } catch (error) {
      problems.push(context.problem(template.key, `is not a usable upstream proxy URL: ${withoutPasswordPieces((error as Error).message, raw)}`, raw));
    }
  }
  const plan = { members, parameters: Object.freeze({ ...parameters }), separators: loginSeparators(templates.map((template) => template.value as string)) };
  return withDefaultsChecked(plan, context, declaredSetting.key, ownParameters, problems);
}

/**
 * `plan`, with a problem for each default of its own (`own`: inherited ones are checked where
 * they are declared) that holds a character its login separates fields with: a client sending
 * such a value gets a 400, and the default went into every session's login unchecked, adding a
 * field there (`de_session_FIXED` gave every port the same first session field).
 */
function withDefaultsChecked(plan: UpstreamPlan, context: PlanContext, key: string, own: Readonly<Record<string, string>>, problems: ConfigProblem[]): UpstreamPlan {
  for (const char of plan.separators ?? '') {
    for (const [name, value] of Object.entries(own)) {
      if (value.includes(char)) problems.push(context.problem(`${key}.${name}`, `holds "${char}", which this upstream's login separates its fields with: a value must not hold one`, value));
    }
  }
  return plan;
}

/**
 * "_" when a template's login puts it next to a placeholder (`country_{country}_session`), or
 * before the label of a parameter's (`secret_country-{country}`, the iproyal way; not of
 * {session}, {port} or {lifetime}: `hl_1a2b-{session}`), percent-encoded or not: there it
 * separates fields, and a value holding one would add a field. A "_" elsewhere (a customer id
 * `hl_1a2b`, a password `my_secret`) separates nothing.
 */
function loginSeparators(templates: readonly string[]): string {
  for (const template of templates) {
    const userInfo = /^[a-z0-9+.-]+:\/\/([^@]*)@/i.exec(template)?.[1] ?? '';
    const decoded = userInfo.replace(/%5f/gi, '_');
    if (/_\{[a-z][a-z0-9_]*\}|\{[a-z][a-z0-9_]*\}_|_[A-Za-z0-9]+[-.]\{(?!(?:session|port|lifetime)\})[a-z][a-z0-9_]*\}/.test(decoded)) return '_';
  }
  return '';
}

function presetPlan(
  context: PlanContext,
  preset: Setting,
  parameters: Readonly<Record<string, string>>,
  parametersKey: string,
  problems: ConfigProblem[],
): UpstreamPlan {
  const name = preset.value as PresetName;
  const known: readonly string[] = PRESET_PARAMETERS;
  for (const parameter of Object.keys(parameters)) {
    if (!known.includes(parameter)) {
      problems.push(context.problem(`${parametersKey}.${parameter}`, `is not a parameter the ${name} preset knows (it knows ${known.join(', ')})`, parameters[parameter]));
    }
  }
  const username = context.get('Upstream.Username');
  const password = context.get('Upstream.Password');
  for (const setting of [username, password]) {
    if (setting.value === '') {
      // A flag-only start (--preset) has no file: the account comes from the environment.
      const where = setting.key.startsWith('Upstream.') ? ' (in a file, or STICKYPORT_UPSTREAM_USERNAME and STICKYPORT_UPSTREAM_PASSWORD)' : '';
      problems.push(context.problem(setting.key, `must be set: ${preset.key} is ${name}, which needs the account's user name and password${where}`, ''));
    }
  }
  const lifetime = presetLifetimeProblem(name, context.lifetime.ms);
  if (lifetime) problems.push(context.problem(context.lifetime.key, `${lifetime} (${preset.key} is ${name})`, context.lifetime.value));
  const id = presetIdProblem(name, context.idLength, context.idAlphabet);
  if (id) problems.push(context.problem(id.key, `${id.text} (${preset.key} is ${name})`, id.key === 'Session.IdLength' ? context.idLength : context.idAlphabet));
  const defaults = Object.fromEntries(known.map((parameter) => [parameter, parameters[parameter] ?? '']));
  const account = {
    username: username.value as string,
    password: password.value as string,
    host: context.get('Upstream.Host').value as string,
    port: context.get('Upstream.Port').value as number,
  };
  const member = presetMember(name, account, { lifetimeMs: context.lifetime.ms, params: defaults });
  // iproyal splits its password on "_".
  return { members: [member], parameters: Object.freeze(defaults), separators: name === 'iproyal' ? '_' : '' };
}

/** `host:port` keys of one endpoint, spelled with another case or a trailing dot. */
function sameEndpoint(a: string, b: string): boolean {
  const plain = (key: string): string => key.toLowerCase().replace(/\.(?=:[^:]*$)/, '');
  return plain(a) === plain(b);
}
