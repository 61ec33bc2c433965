import { StickyportError } from '../errors.js';
import { quoted } from '../logging/quoted.js';

/**
 * User name parameters (`country`, `city`, ...): declared with their defaults in
 * Upstream.Parameters, set per session from the client's proxy login or from the session API.
 * A value goes into the upstream user name, so it is held to a safe set of characters: no `-`
 * (providers split user names on it), no `:` or `@` (they end the user name), no `%`.
 */

/** A parameter value: what a client may set. "" (set explicitly to nothing) only from the API. */
export const PARAMETER_VALUE = /^[A-Za-z0-9_]{1,64}$/;
/** The longest value PARAMETER_VALUE allows. */
export const PARAMETER_VALUE_MAX = 64;

/**
 * The parameter names a port declares, and the characters besides "-" its upstream's login puts
 * between fields (see UpstreamPlan.separators): no value may hold one. `loginProblem` says why
 * a whole set of values cannot be rendered into the upstream's login (a SOCKS5 user name over
 * 255 bytes), or nothing.
 */
export type DeclaredParams = ReadonlySet<string> & {
  readonly separators?: string;
  readonly loginProblem?: (params: SessionParams) => string | undefined;
};

/** `params` as a whole, refused when the upstream's login could not carry them. */
function checkedAsLogin(params: SessionParams, declared: DeclaredParams, from: string): SessionParams {
  const problem = declared.loginProblem?.(params);
  if (problem) throw new ParameterError(`${from}: with these values ${problem}`);
  return params;
}

/** Why `value`, safe characters only, still cannot be a value for `declared`'s upstream, or undefined. */
function separatorProblem(value: string, declared: DeclaredParams): string | undefined {
  for (const char of declared.separators ?? '') {
    if (value.includes(char)) return `this upstream's login separates its fields with "${char}", so a value must not hold one`;
  }
  return undefined;
}

/** Parameter values by name; "" = no value (the segment is dropped). */
export type SessionParams = Readonly<Record<string, string>>;

export class ParameterError extends StickyportError {
  constructor(message: string) {
    super('BAD_PARAMETER', message, { status: 400 });
    this.name = 'ParameterError';
  }
}

/** A proxy login's user name, split into the part that is checked and the parameters after it. */
export interface SplitLogin {
  /** The user name without its parameters: what Authentication.Username is compared with. */
  readonly base: string;
  /** `country-de-city-berlin`, or undefined when the login carries none (the session stays as it is). */
  readonly rest: string | undefined;
}

const shown = (text: string): string => quoted(text.length > 40 ? `${text.slice(0, 40)}...` : text);

/**
 * Splits `user-country-de-city-berlin`. With a configured user name (`user`), parameters follow
 * it after a `-`; without one, they begin at the first `-<declared name>-`. The rest is read by
 * {@link loginParameters}, once the login has been checked.
 */
export function splitLogin(username: string, declared: ReadonlySet<string>, configuredUser: string): SplitLogin {
  let start: number;
  if (configuredUser) {
    if (!username.startsWith(`${configuredUser}-`)) return { base: username, rest: undefined };
    start = configuredUser.length;
  } else {
    start = firstDeclared(username, declared);
    if (start < 0) return { base: username, rest: undefined };
  }
  return { base: username.slice(0, start), rest: username.slice(start + 1) };
}

/** The parameters of a login's rest: `-name-value` pairs of declared names and safe values, or a 400. */
export function loginParameters(rest: string, declared: DeclaredParams): SessionParams {
  return checkedAsLogin(readPairs(rest, declared), declared, 'the proxy login\'s parameters');
}

function firstDeclared(username: string, declared: ReadonlySet<string>): number {
  const lower = username.toLowerCase();
  let first = -1;
  for (const name of declared) {
    const at = lower.indexOf(`-${name}-`);
    if (at > 0 && (first < 0 || at < first)) first = at;
  }
  return first;
}

function readPairs(text: string, declared: DeclaredParams): SessionParams {
  const tokens = text.split('-');
  const params: Record<string, string> = {};
  for (let i = 0; i < tokens.length; i += 2) {
    const name = tokens[i]!.toLowerCase();
    const value = tokens[i + 1];
    if (!declared.has(name)) {
      throw new ParameterError(`the proxy login names ${shown(tokens[i]!)}, which is not a declared parameter (declared: ${[...declared].join(', ') || 'none'})`);
    }
    if (value === undefined) throw new ParameterError(`the proxy login gives parameter ${name} no value: write -${name}-VALUE`);
    const problem = PARAMETER_VALUE.test(value) ? separatorProblem(value, declared) : 'values are 1-64 of A-Z a-z 0-9 _';
    if (problem) throw new ParameterError(`the proxy login gives parameter ${name} the value ${shown(value)}: ${problem}`);
    if (Object.hasOwn(params, name)) throw new ParameterError(`the proxy login names parameter ${name} twice`);
    params[name] = value;
  }
  return Object.freeze(params);
}

/**
 * Parameters from the session API's query (`/session/new?country=de`): declared names only;
 * `pwd` is the API password, not a parameter. `country=` sets it to no value.
 */
export function queryParameters(query: URLSearchParams, declared: DeclaredParams): SessionParams | undefined {
  const params: Record<string, string> = {};
  let any = false;
  for (const [name, value] of query) {
    if (name === 'pwd') continue;
    if (!declared.has(name)) {
      throw new ParameterError(`${shown(name)} is not a declared parameter (declared: ${[...declared].join(', ') || 'none'})`);
    }
    if (Object.hasOwn(params, name)) throw new ParameterError(`parameter ${name} is given twice: give it once`);
    if (value !== '' && !PARAMETER_VALUE.test(value)) {
      throw new ParameterError(`parameter ${name} = ${shown(value)}: values are empty or 1-64 of A-Z a-z 0-9 _`);
    }
    const problem = value === '' ? undefined : separatorProblem(value, declared);
    if (problem) throw new ParameterError(`parameter ${name} = ${shown(value)}: ${problem}`);
    params[name] = value;
    any = true;
  }
  return any ? checkedAsLogin(Object.freeze(params), declared, 'the parameters') : undefined;
}

/** The values a session renders: the defaults, overridden by what was set for it. */
export function effectiveParams(defaults: SessionParams, params: SessionParams | undefined): SessionParams {
  return params ? { ...defaults, ...params } : defaults;
}

/** Equal when every name has the same value, a missing one counting as "". */
export function sameParams(a: SessionParams, b: SessionParams): boolean {
  for (const name of Object.keys(a)) if ((a[name] ?? '') !== (b[name] ?? '')) return false;
  for (const name of Object.keys(b)) if ((a[name] ?? '') !== (b[name] ?? '')) return false;
  return true;
}

/** Why a stored `params` value cannot be used for a port declaring `declared`, or undefined. */
export function storedParamsProblem(value: unknown, declared: DeclaredParams): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'params is not an object';
  for (const [name, text] of Object.entries(value)) {
    if (!declared.has(name)) return `params names ${shown(name)}, which the port does not declare`;
    if (typeof text !== 'string' || (text !== '' && (!PARAMETER_VALUE.test(text) || separatorProblem(text, declared) !== undefined))) return `params.${name} is not a safe value`;
  }
  // Values the upstream's login cannot carry now (a SOCKS5 template made longer since): served,
  // the session would fail every request until it rotated.
  const tooLong = declared.loginProblem?.(value as SessionParams);
  return tooLong ? `with these params ${tooLong}` : undefined;
}
