/**
 * Host name patterns of HostRules. Two forms:
 * - a glob: host name characters and `*`, which stands for any characters, dots included:
 *   `*.example.com` matches `a.example.com` and `a.b.example.com` but not `example.com` itself
 *   (write both to cover both); `cdn*.example.com` matches `cdn.example.com` and `cdn7.example.com`;
 *   `*` alone matches every host;
 * - a regular expression between slashes, `/(www\.)?example\.(com|org)/`, anchored: it must match
 *   the whole host name (write `.*` where anything may stand).
 * Both match case-insensitively, against the host name without port, brackets or trailing dot.
 */

export type HostTest = (host: string) => boolean;

const GLOB = /^[a-z0-9.*_:-]+$/;
const REGEX_CHARACTERS = /[\\()|$^+?{}[\]]/;

/** Why `pattern` is not a usable host pattern, or undefined. */
export function hostPatternProblem(pattern: string): string | undefined {
  const compiled = compileHostPattern(pattern);
  return typeof compiled === 'string' ? compiled : undefined;
}

/** The test for `pattern`, or the reason it cannot be one. */
export function compileHostPattern(pattern: string): HostTest | string {
  if (pattern.length >= 2 && pattern.startsWith('/') && pattern.endsWith('/')) {
    const body = pattern.slice(1, -1);
    try {
      const regex = new RegExp(`^(?:${body})$`, 'i');
      return (host) => regex.test(host);
    } catch (error) {
      return `is not a valid regular expression: ${(error as Error).message.replace(/^Invalid regular expression: /, '')}`;
    }
  }
  const glob = pattern.toLowerCase();
  if (glob === '') return 'must not be empty: a glob such as "*.example.com" or a regular expression between slashes';
  if (!GLOB.test(glob)) {
    return REGEX_CHARACTERS.test(pattern)
      ? `looks like a regular expression: write it between slashes, as /${pattern}/ (it must then match the whole host name)`
      : 'may only hold host name characters (a-z 0-9 . - _ :) and *, or be a regular expression between slashes';
  }
  if (glob === '*') return () => true;
  const star = glob.indexOf('*');
  if (star < 0) return (host) => host === glob;
  if (star === 0 && glob.indexOf('*', 1) < 0) {
    const suffix = glob.slice(1);
    return (host) => host.endsWith(suffix);
  }
  const regex = new RegExp(`^${glob.split('*').map((piece) => piece.replace(/[.]/g, '\\.')).join('.*')}$`);
  return (host) => regex.test(host);
}

/** A target's host name as patterns see it: lower case, no brackets, no trailing dot. */
export function hostForRules(hostname: string): string {
  let host = hostname;
  if (host.startsWith('[')) host = host.slice(1, -1);
  if (host.endsWith('.')) host = host.slice(0, -1);
  // Most targets arrive lower-cased already (WHATWG URL); CONNECT authorities may not.
  return /[A-Z]/.test(host) ? host.toLowerCase() : host;
}
