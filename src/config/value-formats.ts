import convict from 'convict';
import { CONTROL_CHARACTER, quoted } from '../logging/quoted.js';
import { PARAMETER_NAME, hostNameProblem, parseUpstreamTemplate } from '../upstream/upstream-url.js';
import { PRESET_NAMES } from '../upstream/presets.js';
import { hostPatternProblem } from '../rules/host-pattern.js';
import { PARAMETER_VALUE } from '../session/parameters.js';
import { CONNECT_FAILURES, headerValueProblem, statusListProblem } from '../rotation/rule-values.js';
import { DAY_MS, MAX_LIFETIME_MS, MAX_TIMER_MS, MINUTE_MS, SECOND_MS, readDuration } from './formats.js';
import { MASK, maskedUrl, repeatsSecret, urlSecret, withoutSecretOutside } from './secrets.js';
import { nearestKey } from './problems.js';

/** What {@link ValueFormat.fromEnv} answers for text the environment may not use. */
export const UNREADABLE: unique symbol = Symbol('unreadable');

/**
 * A convict format that also knows how the environment writes its values.
 *
 * Files and the environment differ: a JSON file has types, so `"AllowUnauthenticatedPublic":
 * "no"` or a port written as `"20400"` is a mistake to report, not a string to coerce (convict's
 * own Boolean format makes every string but "false" true). Environment variables are text, so
 * `fromEnv` turns the few spellings the environment may use into the JSON value they stand for,
 * and the same `problem` check then judges values from every layer alike. No format coerces
 * inside convict: a value reaches `problem` exactly as a file wrote it.
 */
export interface ValueFormat {
  readonly name: string;
  /** What is wrong with `value` ("must be ..."), or undefined when it is accepted. */
  problem(value: unknown): string | undefined;
  /** An environment variable's text as a file would write its value, or UNREADABLE. */
  fromEnv(text: string): unknown;
  /** The problem to report when fromEnv answers UNREADABLE. */
  readonly envProblem?: string;
  /** Inside a record, the value may also be a JSON list (`"Status": [429, "5xx"]`): `problem` judges it whole. */
  readonly takesList?: boolean;
}

const asText = (text: string): unknown => text;

// A Map, not an object literal: "constructor" or "__proto__" must not read as something.
const BOOLEAN_TEXT = new Map([['true', true], ['false', false], ['1', true], ['0', false]]);

const strictBoolean: ValueFormat = {
  name: 'strict-boolean',
  problem: (value) =>
    typeof value === 'boolean' ? undefined : 'must be true or false: a JSON boolean, without quotes, not a number',
  fromEnv: (text) => BOOLEAN_TEXT.get(text) ?? UNREADABLE,
  envProblem: 'must be true, false, 1 or 0 (lower case)',
};

const autoBoolean: ValueFormat = {
  name: 'auto-boolean',
  problem: (value) =>
    typeof value === 'boolean' || value === 'auto' ? undefined : 'must be true, false (JSON booleans, without quotes) or "auto"',
  fromEnv: (text) => (text === 'auto' ? 'auto' : BOOLEAN_TEXT.get(text) ?? UNREADABLE),
  envProblem: 'must be true, false, 1, 0 or auto (lower case)',
};

function integer(name: string, min: number, max: number, accepted: string, allowAuto = false): ValueFormat {
  return {
    name,
    problem(value) {
      if (allowAuto && value === 'auto') return undefined;
      if (Number.isInteger(value) && (value as number) >= min && (value as number) <= max) return undefined;
      const quoted = typeof value === 'string' && /^\d+$/.test(value) ? ' (a JSON number: write it without quotes)' : '';
      return `must be ${accepted}${quoted}`;
    },
    fromEnv: (text) => (/^\d{1,15}$/.test(text) ? Number(text) : allowAuto && text === 'auto' ? 'auto' : UNREADABLE),
    envProblem: `must be ${accepted}, in digits only`,
  };
}

interface DurationRules {
  readonly name: string;
  readonly bareUnitMs: number;
  readonly unreadable: string;
  /** The problem with 0 ms, or undefined when 0 means something. */
  readonly zero: string | undefined;
  /** The problem with a negative value, when 0 means something other than "never expires". */
  readonly negative?: string;
  readonly maxMs: number;
  readonly max: string;
}

function duration(rules: DurationRules): ValueFormat {
  return {
    name: rules.name,
    problem(value) {
      const ms = readDuration(value, rules.bareUnitMs);
      if (ms === undefined) return rules.unreadable;
      // -0 too ("-0m"): a minus sign is a mistake, not a way to write 0 (which means "never").
      if (ms < 0 || Object.is(ms, -0)) return rules.zero ?? rules.negative ?? 'must not be negative (0 = never expires)';
      if (Math.round(ms) === 0) {
        // A tiny positive value must not round into 0, which would mean "never" or "no timer".
        return ms > 0 ? `must be at least 1 ms${rules.zero ? '' : rules.negative ? ' (0 = off)' : ' (0 = never expires)'}` : rules.zero;
      }
      return Math.round(ms) > rules.maxMs ? rules.max : undefined;
    },
    fromEnv: asText,
  };
}

const lifetime = duration({
  name: 'lifetime',
  bareUnitMs: MINUTE_MS,
  unreadable: 'must be a number of minutes, or a string with a unit: "90s", "10m", "2h", "1d" (0 = never expires)',
  zero: undefined,
  maxMs: MAX_LIFETIME_MS,
  max: 'must be at most 365 days ("365d"); 0 = never expires',
});

const timeout = duration({
  name: 'timeout',
  bareUnitMs: SECOND_MS,
  unreadable: 'must be a number of seconds, or a string with a unit: "500ms", "30s", "10m", "1h"',
  zero: 'must be above 0: a timeout of 0 would mean "no limit", which this setting does not offer',
  maxMs: MAX_TIMER_MS,
  // Days rounded down, so that the limit as written here is itself accepted.
  max: `must be at most ${Math.floor((MAX_TIMER_MS / DAY_MS) * 10) / 10} days (${MAX_TIMER_MS} ms, the longest timer Node.js can set)`,
});

/** A period where 0 means "off": Identity.CheckEvery, Session.KeepAlive, a rule's Cooldown. */
const interval = duration({
  name: 'interval',
  bareUnitMs: SECOND_MS,
  unreadable: 'must be a number of seconds, or a string with a unit: "500ms", "30s", "10m", "1h" (0 = off)',
  zero: undefined,
  negative: 'must not be negative (0 = off)',
  maxMs: MAX_TIMER_MS,
  max: `must be at most ${Math.floor((MAX_TIMER_MS / DAY_MS) * 10) / 10} days (${MAX_TIMER_MS} ms, the longest timer Node.js can set)`,
});

function text(name: string, accepted: string, ok: (value: string) => boolean): ValueFormat {
  return {
    name,
    problem: (value) => (typeof value === 'string' && ok(value) ? undefined : `must be ${accepted}`),
    fromEnv: asText,
  };
}


/**
 * Free text: a user name, a password, a path, an address. None of them has a use for a control
 * character, and each goes where one does harm or is silently cut: a NUL in SessionStore.Path
 * was a store failing on every write, a CR LF in a user name a broken header, `127.0.0.1\u0000`
 * bound 127.0.0.1. The message shows the value JSON-escaped (or masked, when secret).
 */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function plainText(name: string, accepted: string, ok: (value: string) => boolean = () => true): ValueFormat {
  return {
    name,
    problem(value) {
      if (typeof value !== 'string' || !ok(value)) return `must be ${accepted}`;
      if (CONTROL_CHARACTER.test(value)) return `must be ${accepted} without control characters (U+0000-U+001F, U+007F)`;
      // A lone half of a surrogate pair (JSON's "\ud800") has no UTF-8 form: sent, it would
      // become U+FFFD, and a login or path would not be the one written.
      if (LONE_SURROGATE.test(value)) return `must be ${accepted} of whole characters: it holds half of a surrogate pair (\\uD800-\\uDFFF alone)`;
      return undefined;
    },
    fromEnv: asText,
  };
}

/**
 * A name a client's request can carry as its host. A name whose last label is a number (`0x10`,
 * `99999999999999999`) is read as an IPv4 address by every URL parser, so the API would never
 * answer there; empty labels, labels over 63 characters and names over 253 are no host at all.
 */
function isApiDomain(value: string): boolean {
  // The root's trailing dot is allowed: `portmapper.` names the same host.
  const name = value.endsWith('.') ? value.slice(0, -1) : value;
  if (name.length > 253) return false;
  const labels = name.split('.');
  if (!labels.every((label) => /^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$/.test(label))) return false;
  return !/^(0x[0-9a-f]*|\d+)$/i.test(labels[labels.length - 1]!);
}

function oneOf(name: string, values: readonly string[]): ValueFormat & { readonly values: readonly string[] } {
  // The empty choice (none: a preset's) is said as such, not as an empty item in the list.
  const listed = values.map((value) => (value === '' ? '"" (none)' : value)).join(', ');
  const plain = text(name, `one of: ${listed}`, (value) => values.includes(value));
  return {
    ...plain,
    values,
    // `debg`, `Redis`, `oxylab`: the value probably meant, as an unknown key's is named.
    problem(value) {
      const problem = plain.problem(value);
      const meant = problem !== undefined && typeof value === 'string' && value !== '' ? nearestKey(value, values.filter((known) => known !== '')) : undefined;
      return meant === undefined ? problem : `${problem}; did you mean ${meant}?`;
    },
  };
}

export const ID_ALPHABET_CHARACTERS = /^[A-Za-z0-9_]*$/;

const idAlphabet: ValueFormat = {
  name: 'id-alphabet',
  problem(value) {
    if (typeof value !== 'string') return 'must be a string of at least 2 distinct characters from A-Z a-z 0-9 _';
    const refused = [...new Set(value.replace(/[A-Za-z0-9_]/g, ''))];
    if (refused.length > 0) {
      // Session ids go into upstream user names, which providers split on "-" (and ":" or "@").
      return `may only hold A-Z a-z 0-9 _ (ids go into upstream user names, which providers split on "-"); ` +
        `not allowed: ${refused.slice(0, 5).map((c) => quoted(c)).join(' ')}`;
    }
    const repeated = [...value].find((c, i) => value.indexOf(c) !== i);
    if (repeated) return `must be distinct characters: "${repeated}" is repeated`;
    if (value.length < 2) return 'must be at least 2 distinct characters';
    return undefined;
  },
  fromEnv: asText,
};

const upstreamUrl: ValueFormat = {
  name: 'upstream-url',
  problem(value) {
    if (typeof value !== 'string') return 'must be a string: "" or scheme://[user:password@]host:port';
    if (value === '') return undefined;
    // The --upstream flag's word for no upstream (and the start-up line's). The value is masked
    // as an unreadable URL would be, and scrubbed from the message: it is described, not quoted.
    if (value.trim().toLowerCase() === 'direct') return 'is the --upstream flag\'s word for no upstream, which only the flag takes: here, no upstream is ""';
    try {
      // Which parameters are declared is checked once every key is read (load.ts).
      parseUpstreamTemplate(value, 'any');
      return undefined;
    } catch (error) {
      return `is not a usable upstream proxy URL: ${withoutPasswordPieces((error as Error).message, value)}`;
    }
  },
  fromEnv: asText,
};

/**
 * The parser's message about `url` without its password. The message may quote a piece of the
 * URL, a port or a placeholder, which may be a piece of the password (`pa{ss}word`), or the
 * password rendered (`http://acct:s3cret-{session}`, no host: its port was "s3cret-sample").
 * A quoted or braced piece stays only where it can be read in the URL as shown (its password
 * masked), which says it anyway: the port `70000` of a URL whose password is `7000` was shown
 * as `***0`, hiding the mistake and hinting at the password.
 */
export function withoutPasswordPieces(message: string, url: string): string {
  const secret = urlSecret(url);
  if (!secret) return message;
  const shown = maskedUrl(url);
  const masked = withoutSecretOutside(message, secret, shown).replace(QUOTED_PIECE, (piece, quoted?: string) => {
    // A quoted piece the masked URL does not show goes when it is part of the password, or
    // repeats a run of it (repeatsSecret): one the parser rendered (the password's placeholders
    // filled with sample values, quoted as a port where the host was left out).
    if (quoted !== undefined) return shown.includes(quoted) || !(secret.includes(quoted) || repeatsSecret(quoted, secret, shown)) ? piece : `"${MASK}"`;
    // A placeholder's name: the message's own list of them (`{port}`) stays.
    return shown.includes(piece) || !secret.includes(piece) ? piece : MASK;
  });
  // A password holding a `"` splits the quoting the pieces are found by: what is left of it in
  // the message then is not shown at all.
  return secret.includes('"') && repeatsSecret(masked, secret, shown) ? UNSHOWN_REASON : masked;
}

const UNSHOWN_REASON = 'its reason would repeat part of the password, so it is not shown: write it as scheme://user:password@host:port';

// A piece of the URL a parser's message quotes: "quoted" or a {placeholder}.
const QUOTED_PIECE = /"([^"]+)"|\{([^}]*)\}/g;

const redisUrl: ValueFormat = {
  name: 'redis-url',
  problem(value) {
    const accepted = 'must be a URL like redis://[:password@]host:6379[/db] or rediss://host:6380';
    if (typeof value !== 'string') return accepted;
    // URL parsers drop a tab or newline without a word: the URL used would not be the one given.
    if (CONTROL_CHARACTER.test(value)) return `${accepted}, without control characters (U+0000-U+001F, U+007F)`;
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      return `${accepted}; this one does not parse`;
    }
    // Not even the scheme is quoted: in "secret:word@host" it is part of a password.
    if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') return `${accepted}; other schemes are not Redis`;
    // ioredis reads the path (or ?db=) as the database number with parseInt: `/abc` was db 0
    // behind unhandled rejections, `/9x` db 9. Only a plain number goes through.
    const db = url.searchParams.get('db') ?? (url.pathname === '/' ? '' : url.pathname.slice(1));
    if (url.pathname.length > 1 && url.searchParams.has('db')) return `${accepted}; give the database once, as the path`;
    if (db !== '' && !isDatabaseIndex(db)) return `${accepted}; the path is the database number: /0 to /${MAX_REDIS_DB} (a Redis has /0 to /15 unless its databases setting says more)`;
    return undefined;
  },
  fromEnv: asText,
};

// SELECT takes a signed 32-bit index; the server's own `databases` setting (16 by default) is
// checked by the server itself, at start (see RedisSessionStore).
const MAX_REDIS_DB = 2 ** 31 - 1;

function isDatabaseIndex(text: string): boolean {
  return /^(0|[1-9][0-9]{0,9})$/.test(text) && Number(text) <= MAX_REDIS_DB;
}

const RESERVED_PARAMETERS = new Set(['session', 'port', 'lifetime']);

const parameterName = text(
  'parameter-name',
  'a parameter name: a lower-case letter, then up to 31 lower-case letters, digits or _ (not session, port or lifetime)',
  (value) => PARAMETER_NAME.test(value) && !RESERVED_PARAMETERS.has(value),
);

const parameterValue = text(
  'parameter-value',
  '"" (no value) or 1-64 of A-Z a-z 0-9 _ (values go into upstream user names, which providers split on "-")',
  (value) => value === '' || PARAMETER_VALUE.test(value),
);

const hostPattern: ValueFormat = {
  name: 'host-pattern',
  problem: (value) => (typeof value === 'string' ? hostPatternProblem(value) : 'must be a string: a glob such as "*.example.com" or a regular expression between slashes'),
  fromEnv: asText,
};

const requestLog: ValueFormat = {
  name: 'request-log',
  problem: (value) =>
    typeof value === 'boolean' || value === 'errors' ? undefined : 'must be true, false (JSON booleans, without quotes) or "errors"',
  fromEnv: (text) => (text === 'errors' ? 'errors' : BOOLEAN_TEXT.get(text) ?? UNREADABLE),
  envProblem: 'must be true, false, 1, 0 or errors (lower case)',
};

/** Upstream.Host: another gateway of a preset's provider, or "" for its main one. */
const upstreamHost: ValueFormat = {
  name: 'upstream-host',
  problem(value) {
    if (typeof value !== 'string') return 'must be "" (the preset\'s own) or a host name or IP address';
    if (value === '') return undefined;
    // A preset fills no placeholder into its host: `{session}.gate` would be looked up as it is.
    if (value.includes('{')) return 'must be "" (the preset\'s own) or a host name or IP address, without placeholders (a preset fills none into its host)';
    const problem = hostNameProblem(value);
    return problem ? `must be "" (the preset's own) or a host name or IP address: ${problem}` : undefined;
  },
  fromEnv: asText,
};

const adminHost = plainText('admin-host', 'a host address such as "127.0.0.1", or "auto" (= Listen.Host)', (value) => value.trim() !== '');

const adminPort: ValueFormat = {
  name: 'admin-port',
  problem(value) {
    if (value === 'auto' || (Number.isInteger(value) && (value as number) >= 1 && (value as number) <= 65535)) return undefined;
    const quoted = typeof value === 'string' && /^\d+$/.test(value) ? ' (a JSON number: write it without quotes)' : '';
    return `must be a port number, an integer 1-65535, or "auto" (the port just below Listen.PortRange.Start)${quoted}`;
  },
  fromEnv: (text) => (/^\d{1,15}$/.test(text) ? Number(text) : text === 'auto' ? 'auto' : UNREADABLE),
  envProblem: 'must be a port number 1-65535 in digits only, or auto',
};

/** An echo URL: answers the caller's IP. No login in it: it would be sent to the site itself. */
const echoUrl: ValueFormat = {
  name: 'echo-url',
  problem(value) {
    const accepted = 'must be "" (off) or an http:// or https:// URL such as "http://api.ipify.org/" or "https://ifconfig.co/json"';
    if (typeof value !== 'string') return accepted;
    if (value === '') return undefined;
    if (CONTROL_CHARACTER.test(value)) return `${accepted}, without control characters (U+0000-U+001F, U+007F)`;
    if (!URL.canParse(value)) return `${accepted}; this one does not parse`;
    const url = new URL(value);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return `${accepted}; ${url.protocol}// is another scheme`;
    if (url.username || url.password) return `${accepted}, without a login in it`;
    return undefined;
  },
  fromEnv: asText,
};

const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,100}$/;

const statusList: ValueFormat = {
  name: 'status-list',
  problem: (value) => statusListProblem(value),
  fromEnv: asText,
  takesList: true,
};

const connectStatusList: ValueFormat = {
  name: 'connect-status-list',
  problem: (value) => statusListProblem(value, CONNECT_FAILURES),
  fromEnv: asText,
  takesList: true,
};

const headerValue: ValueFormat = { name: 'header-value', problem: headerValueProblem, fromEnv: asText };

export const storeType = oneOf('store-type', ['memory', 'file', 'redis']);
export const presetName = oneOf('preset', ['', ...PRESET_NAMES]);
export const ruleAction = oneOf('rule-action', ['Allow', 'Deny', 'Bypass']);
export const driftAction = oneOf('drift-action', ['log', 'rotate']);
export const rotationAction = oneOf('rotation-action', ['rotate', 'rotate-and-retry']);
export const logLevel = oneOf('log-level', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

const FORMATS: readonly ValueFormat[] = [
  strictBoolean,
  autoBoolean,
  integer('port-number', 1, 65535, 'a port number, an integer 1-65535'),
  integer('id-length', 1, 64, 'an integer 1-64'),
  integer('optional-port', 0, 65535, 'a port number, an integer 1-65535, or 0 (the preset\'s own)'),
  integer('refusal-count', 1, 1000, 'an integer 1-1000'),
  integer('consecutive-count', 1, 1000, 'an integer 1-1000'),
  integer('body-scan-kib', 1, 1024, 'a number of KiB, an integer 1-1024'),
  integer('connection-limit', 0, Number.MAX_SAFE_INTEGER, 'an integer >= 0 (0 = no limit) or "auto"', true),
  lifetime,
  timeout,
  interval,
  plainText('text', 'a string'),
  plainText('non-empty-text', 'a non-empty string', (value) => value.trim() !== ''),
  // A password of spaces alone is a slip (a value pasted empty): it guards as good as nothing.
  plainText('password-text', 'a string, empty or not spaces only', (value) => value === '' || value.trim() !== ''),
  // Sent as "Authorization: Bearer TOKEN" and read up to the first space: a token with one could
  // never match. Judged whether or not the admin server is on, as every value is.
  plainText('bearer-token', 'one word with no spaces or control characters: clients send it as "Authorization: Bearer TOKEN"', (value) => !/\s/.test(value)),
  text('api-domain', 'a host name (labels of 1-63 letters, digits and inner "-", at most 253 characters, not an IP address) or "" (the port itself)', (value) => value === '' || isApiDomain(value)),
  text('mapping-name', 'a name of 1-64 letters, digits, ".", "_" or "-"', (value) => /^[A-Za-z0-9_.-]{1,64}$/.test(value)),
  text('rule-name', 'a name of 1-64 letters, digits, ".", "_" or "-"', (value) => /^[A-Za-z0-9_.-]{1,64}$/.test(value)),
  text('header-name', 'a header name: 1-100 letters, digits or !#$%&\'*+-.^_`|~', (value) => HEADER_NAME.test(value)),
  text('body-marker', 'text of 1-256 characters, without control characters (U+0000-U+001F, U+007F)', (value) => value.length >= 1 && value.length <= 256 && !CONTROL_CHARACTER.test(value)),
  echoUrl,
  statusList,
  connectStatusList,
  headerValue,
  driftAction,
  rotationAction,
  storeType,
  logLevel,
  presetName,
  ruleAction,
  parameterName,
  parameterValue,
  hostPattern,
  idAlphabet,
  upstreamUrl,
  upstreamHost,
  redisUrl,
  requestLog,
  adminHost,
  adminPort,
];

const BY_NAME = new Map(FORMATS.map((format) => [format.name, format]));

export function formatNamed(name: string): ValueFormat {
  const format = BY_NAME.get(name);
  if (!format) throw new Error(`no value format named ${name}`);
  return format;
}

// convict knows the same formats, so that its schema stays checkable on its own.
for (const format of FORMATS) {
  convict.addFormat({
    name: format.name,
    validate(value: unknown) {
      const problem = format.problem(value);
      if (problem) throw new Error(problem);
    },
  });
}
