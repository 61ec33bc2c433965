/**
 * What a configuration message may show of a value. Messages go to a terminal, to CI logs and
 * into bug reports, so a password never reaches one: not in full, not as a snippet.
 */

import { quoted } from '../logging/quoted.js';

export const MASK = '***';

/**
 * `url-query`: a URL's credentials and its query (an echo URL's `?token=...`). `redis-url`: a
 * URL's credentials and its query's values but `db` and `family`.
 */
export type Masking = 'none' | 'all' | 'url-password' | 'url-credentials' | 'url-query' | 'redis-url' | 'after-colon' | 'colon-login';

/** `host:port:user:password`, the way providers' dashboards list a proxy; group 1 is what may be shown. */
const COLON_LOGIN = /^([^\s:@/]+:\d{1,5}:[^:]*:)(.+)$/s;

/** A port (and what may follow it: a path such as Redis's `/3`, a query), not a password. */
const PORT_TAIL = /^(\d+|\{port\})([/?].*)?$/s;
/** A proxy URL's port: it has no path or query, so `2024?s3cret` after a user name is a password. */
const PROXY_PORT_TAIL = /^(\d+|\{port\})\/?$/;

/**
 * Where a URL's secret stands, split the way stickyport's parsers split it: the credentials end
 * at the last `@`, the user name at the first `:`. With `bareUserIsSecret` (Redis:
 * `redis://secret@host`), credentials without a `:` are secret as a whole. A value that does not
 * look like `scheme://...` at all is secret entirely ('all'), and so is a `:` tail that is not a
 * port (`http://user:secret`, a URL whose host was forgotten). Undefined: nothing is secret.
 */
function secretSpan(url: string, bareUserIsSecret: boolean): readonly [number, number] | 'all' | undefined {
  const match = /^(\s*[a-zA-Z][a-zA-Z0-9+.-]*:\/\/)(.*)$/s.exec(url);
  if (!match) return url.trim() === '' ? undefined : 'all';
  const start = match[1]!.length;
  const rest = match[2]!;
  const at = rest.lastIndexOf('@');
  if (at >= 0) {
    const colon = rest.slice(0, at).indexOf(':');
    if (colon >= 0) return colon + 1 === at ? undefined : [start + colon + 1, start + at];
    return bareUserIsSecret && at > 0 ? [start, start + at] : undefined;
  }
  const colon = rest.lastIndexOf(':');
  const tail = colon >= 0 ? rest.slice(colon + 1) : '';
  return tail === '' || (bareUserIsSecret ? PORT_TAIL : PROXY_PORT_TAIL).test(tail) ? undefined : [start + colon + 1, url.length];
}

/** The text of a URL's secret (see secretSpan), for a parser's messages to be cleaned of it. */
export function urlSecret(url: string, bareUserIsSecret = false): string | undefined {
  const span = secretSpan(url, bareUserIsSecret);
  return span === 'all' ? url : span && url.slice(span[0], span[1]);
}

/**
 * `url` with its secret masked where it stands, and only there: the same characters elsewhere in
 * the URL (a one-letter password `p` in `http`) stay as they are.
 */
export function maskedUrl(url: string, bareUserIsSecret = false): string {
  const span = secretSpan(url, bareUserIsSecret);
  return span === 'all' ? MASK : span ? `${url.slice(0, span[0])}${MASK}${url.slice(span[1])}` : url;
}

// Shorter secrets are masked only where a message quotes them: replaced everywhere, a one-letter
// password garbled the message, and where the masks fell spelled it out.
const SHORTEST_REPLACED = 4;

/** `text` (a parser's message) with every occurrence of `secret` replaced by `***`. */
export function withoutSecret(text: string, secret: string | undefined): string {
  return secret && secret.length >= SHORTEST_REPLACED ? text.split(secret).join(MASK) : text;
}

// A piece of a message in double quotes: a value, a port, a host the message names.
const QUOTED_TEXT = /"([^"]+)"/g;

/**
 * withoutSecret, except in a quoted piece of `text` that can be read in `shown` (the value as
 * the same message shows it, its secret masked): that piece tells nothing `shown` does not.
 * Masked there too, the port `70000` of a URL whose password is `7000` read `***0`, hiding the
 * mistake the message names and hinting at the password. An occurrence of the secret that
 * straddles such a piece's quote (a secret holding a `"`) masks the whole text as before.
 */
export function withoutSecretOutside(text: string, secret: string | undefined, shown: string): string {
  if (!secret || secret.length < SHORTEST_REPLACED) return text;
  const kept: Array<readonly [number, number]> = [];
  for (const match of text.matchAll(QUOTED_TEXT)) if (shown.includes(match[1]!)) kept.push([match.index, match.index + match[0].length]);
  if (kept.length === 0) return withoutSecret(text, secret);
  for (let at = text.indexOf(secret); at >= 0; at = text.indexOf(secret, at + 1)) {
    const end = at + secret.length;
    if (kept.some(([from, to]) => at < to && end > from && (at < from || end > to))) return withoutSecret(text, secret);
  }
  let out = '';
  let from = 0;
  for (const [start, end] of kept) {
    out += withoutSecret(text.slice(from, start), secret) + text.slice(start, end);
    from = end;
  }
  return out + withoutSecret(text.slice(from), secret);
}

/**
 * Whether `text` holds SHORTEST_REPLACED characters in a row of the secret's own text (not of a
 * placeholder in it) that `shown` does not show.
 */
export function repeatsSecret(text: string, secret: string, shown: string): boolean {
  for (const run of secret.split(/\{[^}]*\}/)) {
    for (let at = 0; at + SHORTEST_REPLACED <= run.length; at++) {
      const piece = run.slice(at, at + SHORTEST_REPLACED);
      if (text.includes(piece) && !shown.includes(piece)) return true;
    }
  }
  return false;
}

/**
 * An echo URL as it may be shown: what follows its first `?` or `#` (the query, where an echo
 * service's token goes, and any fragment) as `***`, and a login before the host masked. The
 * query is cut off first: an `@` in it (`?user=me@example.com&token=...`) is not the end of a
 * login, and taking it for one had masked the `?` away and shown the token. Without an `@`,
 * only the authority can hold a password: `:8080/ip` is a port and a path.
 */
export function withoutQuery(url: string): string {
  const cut = url.search(/[?#]/);
  const head = cut < 0 ? url : url.slice(0, cut);
  const authority = head.includes('@') ? undefined : /^(\s*[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/]*)(.*)$/s.exec(head);
  const shown = authority ? `${maskedUrl(authority[1]!, true)}${authority[2]}` : maskedUrl(head, true);
  return cut < 0 ? shown : `${shown}${url[cut]}${MASK}`;
}


// The query items of a Redis URL that are shown, when their value is a number; ioredis takes any
// other as an option, `password` and `username` among them (`redis://host:6379?password=...` logs in).
const SHOWN_REDIS_OPTIONS = new Set(['db', 'family']);

/**
 * A Redis URL as it may be shown. Two readings of where its secrets stand are masked together,
 * since the text may be neither well formed nor meant as either: stickyport's (the login ends at
 * the last "@", so a "?" typed inside a password is part of it) and WHATWG URL's, as ioredis
 * reads it (the query starts at the first "?", and ioredis takes every item as an option:
 * `?password=` logs in); there every value but `db`'s and `family`'s is masked, an item without
 * a value whole, and a fragment.
 */
export function maskedRedisUrl(url: string): string {
  const span = secretSpan(url, true);
  if (span === 'all') return MASK;
  const hidden = new Uint8Array(url.length);
  if (span) hidden.fill(1, span[0], span[1]);
  const cut = url.indexOf('?');
  const hash = url.indexOf('#', cut < 0 ? 0 : cut);
  if (cut >= 0) {
    let at = cut + 1;
    for (const item of url.slice(at, hash < 0 ? url.length : hash).split('&')) {
      const equals = item.indexOf('=');
      const name = equals < 0 ? item : item.slice(0, equals);
      // Shown only as a number: `?db=1?password=...` (a "?" typed for "&") is one value to ioredis.
      const shown = SHOWN_REDIS_OPTIONS.has(decodedName(name)) && /^\d{1,10}$/.test(item.slice(equals + 1));
      if (!shown) hidden.fill(1, equals < 0 ? at : at + equals + 1, at + item.length);
      at += item.length + 1;
    }
  }
  if (hash >= 0) hidden.fill(1, hash + 1);
  let shown = '';
  for (let i = 0; i < url.length; i++) {
    if (!hidden[i]) shown += url[i];
    else if (i === 0 || !hidden[i - 1]) shown += MASK;
  }
  return shown;
}

function decodedName(name: string): string {
  try {
    return decodeURIComponent(name.replace(/\+/g, ' '));
  } catch {
    return name;
  }
}

/**
 * How to show text that was meant as something else and may be a URL or a login (a stray
 * command-line argument, a store flag that is no store): a URL with its credentials and query
 * values masked; anything else with an "@" or a scheme-like start not at all (a URL typed one
 * slash short, `:pw@host`, the half of an unquoted password after a space), the rest as it is.
 */
export function maskingOfLooseText(text: string): Masking {
  if (text.includes('://')) return 'redis-url';
  return text.includes('@') || /^[a-z][a-z0-9+.-]*:/i.test(text) ? 'all' : 'none';
}

/**
 * How `value` is shown under `masking`: a key that holds no secret given what looks like a
 * login (a URL with one, text with an "@", `host:port:user:password`) is most likely the
 * provider's address pasted into the wrong flag or key, and is shown as loose text is, without it.
 */
export function maskingFor(value: unknown, masking: Masking): Masking {
  if ((masking !== 'none' && masking !== 'after-colon') || typeof value !== 'string') return masking;
  if (value.includes('@') || value.includes('://')) return maskingOfLooseText(value);
  return masking === 'none' && COLON_LOGIN.test(value) ? 'colon-login' : masking;
}

/** The part of `value` that `masking` hides, for a message that quotes it to be cleaned of it. */
export function hiddenPart(value: string, masking: Masking): string | undefined {
  switch (maskingFor(value, masking)) {
    case 'none':
    case 'url-query':
      return undefined;
    case 'all':
      return value;
    case 'after-colon':
      return value.includes(':') ? value.slice(value.indexOf(':') + 1) : undefined;
    case 'colon-login':
      return COLON_LOGIN.exec(value)?.[2];
    default:
      return urlSecret(value, masking !== 'url-password');
  }
}

/** The value for a message: JSON-ish, masked as its key requires, cut short when long. */
export function showValue(value: unknown, masking: Masking): string {
  masking = maskingFor(value, masking);
  if (masking !== 'none' && typeof value === 'string' && value !== '') {
    if (masking === 'all') return MASK;
    // A user name holding a ":" is most often `user:password` pasted whole.
    if (masking === 'after-colon') return quoted(value.includes(':') ? `${value.slice(0, value.indexOf(':'))}:${MASK}` : value);
    if (masking === 'colon-login') return quoted(value.replace(COLON_LOGIN, `$1${MASK}`));
    if (masking === 'url-query') return quoted(withoutQuery(value));
    if (masking === 'redis-url') return quoted(maskedRedisUrl(value));
    return quoted(maskedUrl(value, masking !== 'url-password'));
  }
  if (masking === 'all' && value !== undefined && value !== null && typeof value !== 'string') return MASK;
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object' && value !== null) return 'an object';
  if (value === undefined) return 'nothing';
  // JSON.stringify says null for a number too large for a double (1e400 reads as Infinity).
  const text = typeof value === 'string' ? quoted(value) : typeof value === 'number' && !Number.isFinite(value) ? `${value} (beyond a number's range)` : JSON.stringify(value);
  return text.length > 80 ? `${text.slice(0, 77)}..."` : text;
}
