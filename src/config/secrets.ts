/**
 * What a configuration message may show of a value. Messages go to a terminal, to CI logs and
 * into bug reports, so a password never reaches one: not in full, not as a snippet.
 */

export const MASK = '***';

/** `url-query`: a URL's credentials and its query (an echo URL's `?token=...`). */
export type Masking = 'none' | 'all' | 'url-password' | 'url-credentials' | 'url-query';

/**
 * The part of a URL that is secret, split the way stickyport's parsers split it: the
 * credentials end at the last `@`, the user name at the first `:`. With `bareUserIsSecret`
 * (Redis: `redis://secret@host`), credentials without a `:` are secret as a whole.
 * A value that does not look like `scheme://...` at all is treated as secret entirely, and so
 * is a `:` tail that is not a port (`http://user:secret`, a URL whose host was forgotten).
 */
export function urlSecret(url: string, bareUserIsSecret = false): string | undefined {
  const match = /^\s*[a-zA-Z][a-zA-Z0-9+.-]*:\/\/(.*)$/s.exec(url);
  if (!match) return url.trim() === '' ? undefined : url;
  const rest = match[1]!;
  const at = rest.lastIndexOf('@');
  if (at >= 0) {
    const credentials = rest.slice(0, at);
    const colon = credentials.indexOf(':');
    if (colon >= 0) return credentials.slice(colon + 1) || undefined;
    return bareUserIsSecret ? credentials || undefined : undefined;
  }
  const colon = rest.lastIndexOf(':');
  const tail = colon >= 0 ? rest.slice(colon + 1) : '';
  return tail === '' || /^(\d+|\{port\})\/*$/.test(tail) ? undefined : tail;
}

/** `text` with every occurrence of `secret` replaced by `***`. */
export function withoutSecret(text: string, secret: string | undefined): string {
  return secret ? text.split(secret).join(MASK) : text;
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
  const login = head.includes('@') ? head : head.replace(/^(\s*[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/]*).*$/s, '$1');
  const shown = withoutSecret(head, urlSecret(login, true));
  return cut < 0 ? shown : `${shown}${url[cut]}${MASK}`;
}

/** JSON.stringify escapes C0 controls only; DEL and C1 controls are escaped too, for a terminal. */
const quoted = (text: string): string =>
  JSON.stringify(text).replace(/[\u007f-\u009f]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);

/** The value for a message: JSON-ish, masked as its key requires, cut short when long. */
export function showValue(value: unknown, masking: Masking): string {
  if (masking !== 'none' && typeof value === 'string' && value !== '') {
    if (masking === 'all') return MASK;
    if (masking === 'url-query') return quoted(withoutQuery(value));
    return quoted(withoutSecret(value, urlSecret(value, masking !== 'url-password')));
  }
  if (masking === 'all' && value !== undefined && value !== null && typeof value !== 'string') return MASK;
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object' && value !== null) return 'an object';
  if (value === undefined) return 'nothing';
  const text = typeof value === 'string' ? quoted(value) : JSON.stringify(value);
  return text.length > 80 ? `${text.slice(0, 77)}..."` : text;
}
