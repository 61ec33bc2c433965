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

/** `url` with what follows its `?` (the query and any fragment) replaced by `***`. */
export function withoutQuery(url: string): string {
  const at = url.indexOf('?');
  return at < 0 ? url : `${url.slice(0, at + 1)}${MASK}`;
}

/** The value for a message: JSON-ish, masked as its key requires, cut short when long. */
export function showValue(value: unknown, masking: Masking): string {
  if (masking !== 'none' && typeof value === 'string' && value !== '') {
    if (masking === 'all') return MASK;
    const shown = withoutSecret(value, urlSecret(value, masking !== 'url-password'));
    return JSON.stringify(masking === 'url-query' ? withoutQuery(shown) : shown);
  }
  if (masking === 'all' && value !== undefined && value !== null && typeof value !== 'string') return MASK;
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object' && value !== null) return 'an object';
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value);
  return text.length > 80 ? `${text.slice(0, 77)}..."` : text;
}
