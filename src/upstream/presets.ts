import type { SessionParams } from '../session/parameters.js';
import { withMaterial, type MemberVars, type UpstreamMember } from './upstream-member.js';
import { asciiHost, hostForUrl } from './upstream-url.js';

/**
 * Provider presets: each renders its provider's documented sticky-session grammar, so that a
 * user gives only the account (`Upstream.Username`, `Upstream.Password`) and stickyport puts the
 * session id, the lifetime in the provider's unit and the parameters in the provider's spelling
 * where the provider reads them. Sources are listed in the README ("Provider presets").
 */

export const PRESET_NAMES = ['brightdata', 'oxylabs', 'decodo', 'iproyal', 'soax'] as const;
export type PresetName = (typeof PRESET_NAMES)[number];

/** The parameters every preset knows, in the order they are rendered. */
export const PRESET_PARAMETERS = ['country', 'state', 'city'] as const;

export interface PresetAccount {
  readonly username: string;
  readonly password: string;
  /** "" = the provider's main gateway. */
  readonly host: string;
  /** 0 = the provider's main gateway port. */
  readonly port: number;
}

interface Preset {
  readonly host: string;
  readonly port: number;
  /** What the provider accepts as a lifetime (in the provider's unit), or undefined when it is fine. */
  lifetimeProblem(lifetimeMs: number): string | undefined;
  /** The session id rule the provider imposes, or undefined. */
  idProblem?(idLength: number, idAlphabet: string): { key: 'Session.IdLength' | 'Session.IdAlphabet'; text: string } | undefined;
  username(account: string, vars: MemberVars): string;
  password(password: string, vars: MemberVars): string;
}

const MINUTE = 60_000;
const SECOND = 1_000;

/**
 * `-name-value` (or, with `before` = "_", `_name-value`) for each parameter that has a value,
 * `name` spelled the provider's way.
 */
function segments(params: SessionParams, names: Readonly<Record<string, string>>, before = '-', transform?: (name: string, value: string) => string): string {
  let text = '';
  for (const name of PRESET_PARAMETERS) {
    const value = params[name];
    if (!value) continue;
    text += `${before}${names[name]}-${transform ? transform(name, value) : value.toLowerCase()}`;
  }
  return text;
}

function wholeMinutes(provider: string, key: string, min: number, max: number): (lifetimeMs: number) => string | undefined {
  return (ms) => {
    if (ms === 0) return `must be set: ${provider} sessions last at most ${max} minutes (${key}), and 0 means never`;
    if (ms % MINUTE !== 0) return `must be whole minutes for ${provider} (${key} counts minutes)`;
    const minutes = ms / MINUTE;
    return minutes < min || minutes > max ? `must be ${min}-${max} minutes for ${provider} (${key})` : undefined;
  };
}

const withPrefix = (prefix: string, account: string): string => (account.startsWith(prefix) ? account : `${prefix}${account}`);

const PRESETS: Readonly<Record<PresetName, Preset>> = {
  // brd-customer-<id>-zone-<zone>[-country-us]-session-<id>; the session lives while it is used:
  // Bright Data has no lifetime parameter.
  brightdata: {
    host: 'brd.superproxy.io',
    port: 33335,
    lifetimeProblem: () => undefined,
    username: (account, vars) => `${account}${segments(vars.params, { country: 'country', state: 'state', city: 'city' })}-session-${vars.session}`,
    password: (password) => password,
  },
  // customer-<user>[-cc-US]-sessid-<id>-sesstime-<minutes>, sesstime at most 1440 minutes.
  oxylabs: {
    host: 'pr.oxylabs.io',
    port: 7777,
    lifetimeProblem: wholeMinutes('oxylabs', 'sesstime', 1, 1440),
    username: (account, vars) =>
      `${withPrefix('customer-', account)}${segments(vars.params, { country: 'cc', state: 'st', city: 'city' }, '-', (name, value) =>
        name === 'country' ? value.toUpperCase() : value.toLowerCase())}-sessid-${vars.session}-sesstime-${vars.lifetimeMs / MINUTE}`,
    password: (password) => password,
  },
  // user-<user>[-country-us]-session-<id>-sessionduration-<minutes>, 1-1440 minutes.
  decodo: {
    host: 'gate.decodo.com',
    port: 7000,
    lifetimeProblem: wholeMinutes('decodo', 'sessionduration', 1, 1440),
    username: (account, vars) =>
      `${withPrefix('user-', account)}${segments(vars.params, { country: 'country', state: 'state', city: 'city' })}-session-${vars.session}-sessionduration-${vars.lifetimeMs / MINUTE}`,
    password: (password) => password,
  },
  // The parameters go in the password: <password>[_country-us]_session-<8 characters>_lifetime-30m,
  // one unit, 1 second to 7 days.
  iproyal: {
    host: 'geo.iproyal.com',
    port: 12321,
    lifetimeProblem(ms) {
      if (ms === 0) return 'must be set: iproyal sessions last at most 7 days (_lifetime-), and 0 means never';
      if (ms % SECOND !== 0) return 'must be whole seconds for iproyal (_lifetime-)';
      return ms > 7 * 86_400_000 ? 'must be at most 7 days for iproyal (_lifetime-)' : undefined;
    },
    idProblem(idLength, idAlphabet) {
      if (idLength !== 8) return { key: 'Session.IdLength', text: 'must be 8 for iproyal, whose _session- value is exactly 8 characters' };
      if (idAlphabet.includes('_')) return { key: 'Session.IdAlphabet', text: 'must be letters and digits only for iproyal, which splits its password on "_"' };
      return undefined;
    },
    username: (account) => account,
    password: (password, vars) =>
      `${password}${segments(vars.params, { country: 'country', state: 'state', city: 'city' }, '_')}_session-${vars.session}_lifetime-${iproyalLifetime(vars.lifetimeMs)}`,
  },
  // package-<id>[-country-us]-sessionid-<id>-sessionlength-<seconds>, the package key as password.
  soax: {
    host: 'proxy.soax.com',
    port: 5000,
    lifetimeProblem(ms) {
      if (ms === 0) return 'must be set: soax sessions last at most 86400 seconds (sessionlength), and 0 means never';
      if (ms % SECOND !== 0) return 'must be whole seconds for soax (sessionlength counts seconds)';
      return ms > 86_400 * SECOND ? 'must be at most 86400 seconds (1 day) for soax (sessionlength)' : undefined;
    },
    username: (account, vars) =>
      `${/^\d+$/.test(account) ? `package-${account}` : account}${segments(vars.params, { country: 'country', state: 'region', city: 'city' })}-sessionid-${vars.session}-sessionlength-${vars.lifetimeMs / SECOND}`,
    password: (password) => password,
  },
};

/** IPRoyal's lifetime: one unit, the largest that divides it (d, h, m, s). */
function iproyalLifetime(ms: number): string {
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', MINUTE]] as const) {
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms / SECOND}s`;
}

export function presetLifetimeProblem(name: PresetName, lifetimeMs: number): string | undefined {
  return PRESETS[name].lifetimeProblem(lifetimeMs);
}

export function presetIdProblem(name: PresetName, idLength: number, idAlphabet: string): ReturnType<NonNullable<Preset['idProblem']>> {
  return PRESETS[name].idProblem?.(idLength, idAlphabet);
}

/**
 * The member a preset with `account` stands for. `shown` (the mapping's lifetime and default
 * parameters) only shapes its description: what it renders for `{session}`.
 */
export function presetMember(name: PresetName, account: PresetAccount, shown: { lifetimeMs: number; params: SessionParams } = { lifetimeMs: 600_000, params: {} }): UpstreamMember {
  const preset = PRESETS[name];
  const host = asciiHost(account.host || preset.host);
  const port = account.port || preset.port;
  const sample: MemberVars = { session: '{session}', port: 0, ...shown };
  return withMaterial({
    key: `${hostForUrl(host)}:${port}`,
    protocol: 'http:',
    description: `${name} http://${preset.username(account.username, sample)}:***@${hostForUrl(host)}:${port}`,
    hasSessionPlaceholder: true,
    render: (vars) => ({
      protocol: 'http:',
      hostname: host,
      port,
      username: preset.username(account.username, vars),
      password: preset.password(account.password, vars),
    }),
  }, { name, host, port, username: account.username, password: account.password });
}
