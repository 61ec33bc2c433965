import { isIPv6 } from 'node:net';
import { domainToASCII } from 'node:url';
import { CONTROL_CHARACTER, quoted } from '../logging/quoted.js';
import { tooLong } from '../proxy/target-host.js';

/**
 * Upstream URL templates: `scheme://user:password@host:port` in which `{session}`, `{port}` and
 * `{lifetime}` are replaced per session, and the declared user name parameters (`{country}`,
 * `{city}`, ...) by the session's values. A parameter without a value takes its whole segment
 * with it: `-country-{country}` disappears, so one template serves "any country" and "country us".
 *
 * Providers hand out passwords with `@`, `:` and `%` in them, and users paste them as they are.
 * So the template is not given to WHATWG `URL` (which would mangle a bare `%`); it is split by
 * hand: the credentials end at the LAST `@`, the user name ends at the FIRST `:`. Valid
 * percent-escapes are decoded (`%40` is `@`), anything else is taken literally. The decoded
 * values are what goes into the Proxy-Authorization header or the SOCKS handshake.
 */

export type UpstreamProtocol = 'http:' | 'https:' | 'socks4:' | 'socks4a:' | 'socks5:' | 'socks5h:';

const DEFAULT_PORTS: Record<UpstreamProtocol, number> = {
  'http:': 80,
  'https:': 443,
  'socks4:': 1080,
  'socks4a:': 1080,
  'socks5:': 1080,
  'socks5h:': 1080,
};

/**
 * Schemes accepted in the template, with curl's meaning: `socks4://` and `socks5://` resolve
 * target names here, `socks4a://` and `socks5h://` hand them to the upstream. curl has no
 * `socks://`; here it is `socks5h://`, the one that leaks no DNS query.
 */
export const SCHEMES: Readonly<Record<string, UpstreamProtocol>> = {
  http: 'http:',
  https: 'https:',
  socks: 'socks5h:',
  socks4: 'socks4:',
  socks4a: 'socks4a:',
  socks5: 'socks5:',
  socks5h: 'socks5h:',
};

export interface UpstreamEndpoint {
  readonly protocol: UpstreamProtocol;
  readonly hostname: string;
  readonly port: number;
  readonly username: string;
  readonly password: string;
}

export interface UpstreamTemplate {
  readonly protocol: UpstreamProtocol;
  readonly hostname: string;
  readonly port: string;
  readonly username: string;
  readonly password: string;
  readonly hasSessionPlaceholder: boolean;
  /** The user name parameters the credentials name, `country` for `{country}`. */
  readonly parameters: readonly string[];
}

export interface TemplateVars {
  readonly session: string;
  readonly port: number;
  /** Session lifetime in whole minutes (0 = never expires). */
  readonly lifetime: number;
  /** Parameter values; a missing or empty one drops its `-name-{name}` segment. */
  readonly params?: Readonly<Record<string, string>>;
}

const BUILT_IN = new Set(['session', 'port', 'lifetime']);
const ANY_PLACEHOLDER = /\{([^{}]*)\}/g;
/** What a parameter name looks like: `country`, `city`, `asn`, `zip_code`. */
export const PARAMETER_NAME = /^[a-z][a-z0-9_]{0,31}$/;

/**
 * Which placeholders besides {session}, {port} and {lifetime} a template may hold: the declared
 * parameter names, or `'any'` (any name a parameter could have: the per-key check, before the
 * declarations are known).
 */
export type DeclaredParameters = ReadonlySet<string> | 'any';

const NONE: ReadonlySet<string> = new Set();

export function parseUpstreamTemplate(raw: string, declared: DeclaredParameters = NONE): UpstreamTemplate {
  // A CR LF in a user name would reach a header; a tab in a host is dropped by URL parsers.
  if (CONTROL_CHARACTER.test(raw)) throw new Error('holds a control character (U+0000-U+001F, U+007F): write the URL without one');
  const schemeMatch = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/(.*)$/s.exec(raw.trim());
  if (!schemeMatch) throw new Error('must look like scheme://[user:password@]host:port');
  const protocol = SCHEMES[schemeMatch[1]!.toLowerCase()];
  if (!protocol) {
    throw new Error(`scheme "${schemeMatch[1]}" is not supported (use ${Object.keys(SCHEMES).join(', ')})`);
  }
  let rest = schemeMatch[2]!.replace(/\/+$/, '');
  const at = rest.lastIndexOf('@');
  let userinfo = '';
  if (at >= 0) {
    userinfo = rest.slice(0, at);
    rest = rest.slice(at + 1);
  }
  if (rest.includes('/') || rest.includes('?') || rest.includes('#')) {
    throw new Error('a proxy URL has no path, query or fragment');
  }
  const colon = userinfo.indexOf(':');
  const username = decodeLenient(colon >= 0 ? userinfo.slice(0, colon) : userinfo);
  const password = colon >= 0 ? decodeLenient(userinfo.slice(colon + 1)) : '';
  // Written as %0D%0A it passed the check above and reached the login decoded: the provider
  // got a user name with a line break in it, and a SOCKS5 upstream those bytes as they are.
  if (CONTROL_CHARACTER.test(username) || CONTROL_CHARACTER.test(password)) {
    throw new Error('holds a percent-encoded control character (%00-%1F, %7F) in its user name or password: write the login without one');
  }
  const { hostname, port } = splitHostPort(rest, protocol);
  const parameters = new Set<string>();
  for (const [placeholder, name] of raw.matchAll(ANY_PLACEHOLDER)) {
    if (BUILT_IN.has(name!)) continue;
    const allowed = declared === 'any' ? PARAMETER_NAME.test(name!) : declared.has(name!);
    if (!allowed) {
      const names = ['session', 'port', 'lifetime', ...(declared === 'any' ? [] : declared)].map((known) => `{${known}}`);
      throw new Error(`unknown placeholder ${placeholder} (allowed: ${names.join(', ')}${declared === 'any' ? ' and the declared Parameters' : ''})`);
    }
    // Only there: in the host or port too, a client's value (64 characters) would make the port.
    if (!userinfo.includes(placeholder) || rest.includes(placeholder)) throw new Error(`parameter ${placeholder} may only stand in the user name or the password`);
    parameters.add(name!);
  }

  const template: UpstreamTemplate = {
    protocol,
    hostname,
    port,
    username,
    password,
    hasSessionPlaceholder: raw.includes('{session}'),
    parameters: [...parameters],
  };
  // Render once with sample values so that a template that can never work fails at start-up.
  // (Its SOCKS5 login length depends on Session.IdLength: config/upstream-plan.ts checks it.)
  renderUpstream(template, { session: 'sample', port: 1, lifetime: 1 });
  return template;
}

/** RFC 1929: a SOCKS5 user name and password are 1-255 bytes each, their lengths one byte. */
export const SOCKS5_LOGIN_BYTES = 255;

/**
 * Why `endpoint`'s login cannot go out in a SOCKS5 handshake (a user name or password over 255
 * bytes), or undefined. The `socks` library would throw a RangeError from inside its socket's
 * data handler, past every caller, and the handshake would hang until its timeout.
 */
export function socks5LoginProblem(endpoint: UpstreamEndpoint): string | undefined {
  if (endpoint.protocol !== 'socks5:' && endpoint.protocol !== 'socks5h:') return undefined;
  const user = Buffer.byteLength(endpoint.username);
  const password = Buffer.byteLength(endpoint.password);
  if (user <= SOCKS5_LOGIN_BYTES && password <= SOCKS5_LOGIN_BYTES) return undefined;
  const [what, bytes] = user > SOCKS5_LOGIN_BYTES ? ['user name', user] : ['password', password];
  return `the SOCKS5 ${what} would be ${bytes} bytes long: SOCKS5 carries at most ${SOCKS5_LOGIN_BYTES} (RFC 1929)`;
}

export function renderUpstream(template: UpstreamTemplate, vars: TemplateVars): UpstreamEndpoint {
  const fill = (text: string): string => fillPlaceholders(text, vars);
  const port = Number(fill(template.port));
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`port "${fill(template.port)}" is not a TCP port`);
  }
  const endpoint: UpstreamEndpoint = {
    protocol: template.protocol,
    // An internationalized host with a placeholder is turned to its ASCII form once filled.
    hostname: asciiHost(fill(template.hostname)),
    port,
    username: fill(template.username),
    password: fill(template.password),
  };
  if (endpoint.hostname === '') throw new Error('host is empty');
  if ((endpoint.protocol === 'http:' || endpoint.protocol === 'https:') && endpoint.username.includes(':')) {
    // Basic authentication cannot carry a colon in the user name.
    throw new Error('user name must not contain ":" (write it as %3A only in the password)');
  }
  return endpoint;
}

/**
 * The segment a placeholder stands in, dropped with it when the parameter has no value:
 * - a separator, a word, a separator, the placeholder: `-country-{country}`, `_city-{city}`;
 * - between `-` or `.` separators, the parameter's own name holding "_": `-zip_code-{zip_code}`
 *   (as a word, only `_code-{zip_code}` went, leaving `-zip` to read as a field);
 * - at the very start, the parameter's own name, its placeholder and the separator after it:
 *   `country-{country}-` (`country--session-...` was left).
 * Only the parameter's own name may hold "_" or stand first: any other word there may be
 * literal text (`pw-XY_country-{country}`, an account name `acct-{country}`), never dropped.
 */
const SEGMENT = /[-.](?<own>[a-z][a-z0-9]*(?:_[a-z0-9]+)+)[-.]\{\k<own>\}|[-_.][A-Za-z0-9]+[-_.]\{(?<name>[a-z][a-z0-9_]*)\}|^(?<first>[a-z][a-z0-9_]*)[-_.]\{\k<first>\}[-_.]?/g;

/** `text` with its placeholders filled; a parameter without a value drops its segment (SEGMENT). */
function fillPlaceholders(text: string, vars: TemplateVars): string {
  if (!text.includes('{')) return text;
  const value = (name: string): string | undefined =>
    name === 'session' ? vars.session : name === 'port' ? String(vars.port) : name === 'lifetime' ? String(vars.lifetime) : vars.params?.[name] || undefined;
  return text
    .replace(SEGMENT, (segment: string, ...rest: unknown[]) => {
      const { own, name, first } = rest.at(-1) as Record<string, string | undefined>;
      return value((own ?? name ?? first)!) === undefined ? '' : segment;
    })
    .replace(ANY_PLACEHOLDER, (_, name: string) => value(name) ?? '');
}

/** `http://user@host:port`: for logs and API answers, never the password. */
export function describeUpstream(template: UpstreamTemplate): string {
  const user = template.username ? `${template.username}${template.password ? ':***' : ''}@` : '';
  return `${template.protocol}//${user}${hostForUrl(template.hostname)}:${template.port}`;
}

/** "upstream proxy host:port", for error messages: never a password. */
export function describeProxyPeer(endpoint: UpstreamEndpoint): string {
  return `upstream proxy ${hostForUrl(endpoint.hostname)}:${endpoint.port}`;
}

/** An IPv6 address in brackets, as URLs and authorities write it. */
export function hostForUrl(hostname: string): string {
  return hostname.includes(':') ? `[${hostname}]` : hostname;
}

export function basicProxyAuthorization(endpoint: UpstreamEndpoint): string | undefined {
  if (!endpoint.username && !endpoint.password) return undefined;
  return `Basic ${Buffer.from(`${endpoint.username}:${endpoint.password}`).toString('base64')}`;
}

function splitHostPort(hostport: string, protocol: UpstreamProtocol): { hostname: string; port: string } {
  let hostname: string;
  let port: string;
  if (hostport.startsWith('[')) {
    const close = hostport.indexOf(']');
    if (close < 0) throw new Error('unterminated IPv6 address');
    hostname = hostport.slice(1, close);
    port = hostport.slice(close + 1).replace(/^:/, '');
    if (hostname !== '' && !isIPv6(hostname)) throw new Error(`"[${hostname}]" is not an IPv6 address`);
  } else {
    const colon = hostport.lastIndexOf(':');
    hostname = colon >= 0 ? hostport.slice(0, colon) : hostport;
    port = colon >= 0 ? hostport.slice(colon + 1) : '';
    if (hostname.includes(':')) throw new Error(`an IPv6 address goes in brackets: [${hostname}]:port`);
  }
  if (hostname === '') throw new Error('host is missing');
  const problem = hostNameProblem(hostname);
  if (problem) throw new Error(problem);
  return { hostname: asciiHost(hostname), port: port === '' ? String(DEFAULT_PORTS[protocol]) : port };
}

/**
 * `host` as DNS and proxies take it: an internationalized name in its ASCII form (bücher.example
 * is xn--bcher-kva.example), which a `socks5h://` upstream is sent and undici connects to.
 */
export function asciiHost(host: string): string {
  if (!NON_ASCII.test(host) || host.includes('{')) return host;
  return domainToASCII(host) || host;
}

// eslint-disable-next-line no-control-regex
const NON_ASCII = /[^\x00-\x7f]/;

const HOST_NAME = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?$/;

/**
 * Why `host` cannot be an upstream's host (Upstream.Url's, Upstream.Host), or undefined: a DNS
 * name, an IPv4 or an IPv6 address. Checked with the configuration: a host such as "gate
 * example" passed it, and then every request through it failed in undici as a bug (500).
 * A placeholder stands for letters and digits (one that may not stand in the host is refused
 * by the template's own check, with a message that says so).
 */
export function hostNameProblem(host: string): string | undefined {
  if (isIPv6(host)) {
    // Node takes `fe80::1%lo` for an address; a URL cannot carry the zone, so every request failed.
    return host.includes('%') ? `host ${quoted(host)} names an IPv6 zone, which an upstream URL cannot carry: use an address without one` : undefined;
  }
  const sample = asciiHost(host.replace(ANY_PLACEHOLDER, 'x'));
  if (!tooLong(sample) && HOST_NAME.test(sample)) return undefined;
  return `host ${quoted(host)} is not a host name (letters, digits, "-", "_" and dots, or an internationalized name) or an IP address`;
}

function decodeLenient(text: string): string {
  return text.replace(/(?:%[0-9a-fA-F]{2})+/g, (escapes) => {
    try {
      return decodeURIComponent(escapes);
    } catch {
      return escapes;
    }
  });
}
