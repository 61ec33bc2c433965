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
/**
 * Why a regular expression does not compile, without the expression: V8 quotes it whole before
 * its reason, and the value is what the message shows already (masked where it must be).
 */
export function regexFailure(error: unknown): string {
  return (error as Error).message.replace(/^Invalid regular expression: \/.*\/[a-z]*: /s, '');
}

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
      return `is not a valid regular expression: ${regexFailure(error)}`;
    }
  }
  const lower = pattern.toLowerCase();
  if (lower === '') return 'must not be empty: a glob such as "*.example.com" or a regular expression between slashes';
  // Hosts are compared without port or trailing dot, and an IPv4-mapped IPv6 address as IPv4.
  // `evil.test:443`, `*.example.com:*`: a name and a port. (One colon can start an IPv6 glob, `fe80:*`.)
  if (/^[^:]*\.[^:]*:(\d+|\*)$|^\[[^\]]*\]:(\d+|\*)$/.test(lower)) return 'matches the host name only, never a port: drop the ":" and what follows';
  const glob = (lower.length > 1 && lower.endsWith('.') ? lower.slice(0, -1) : lower).replace(/^\[(.*)\]$/, '$1');
  const mapped = glob.includes('*') ? undefined : ipv4Mapped(glob);
  if (mapped) return (host) => host === mapped;
  if (!GLOB.test(glob)) {
    return REGEX_CHARACTERS.test(pattern)
      ? `looks like a regular expression: write it between slashes, where it must match the whole host name: ${wholeNameForm(pattern)} matches the names it matches anywhere in them (as ProxyMapService matched it)`
      : 'may only hold host name characters (a-z 0-9 . - _ :) and *, or be a regular expression between slashes';
  }
  if (glob === '*') return () => true;
  const star = glob.indexOf('*');
  if (star < 0) return (host) => host === glob;
  if (star === 0 && glob.indexOf('*', 1) < 0) {
    const suffix = glob.slice(1);
    return (host) => host.endsWith(suffix);
  }
  return globTest(glob.split('*'));
}

/**
 * A glob of several stars, matched in linear time: the host starts with the first piece, ends
 * with the last, and holds the others in order in between (the leftmost place of each is as
 * good as any). As a backtracking regular expression, `*-*-*.ads.test` took seconds on one
 * 3 KB name a client chose, and every port waited for it.
 */
function globTest(pieces: string[]): HostTest {
  const first = pieces[0]!;
  const last = pieces[pieces.length - 1]!;
  const middle = pieces.slice(1, -1).filter((piece) => piece !== '');
  const least = pieces.reduce((length, piece) => length + piece.length, 0);
  return (host) => {
    if (host.length < least || !host.startsWith(first) || !host.endsWith(last)) return false;
    const end = host.length - last.length;
    let at = first.length;
    for (const piece of middle) {
      const found = host.indexOf(piece, at);
      if (found < 0 || found + piece.length > end) return false;
      at = found + piece.length;
    }
    return true;
  };
}

/**
 * A target's host name as patterns see it: lower case, no brackets, no trailing dot, and an
 * IPv4-mapped IPv6 address (`::ffff:127.0.0.1`, which WHATWG URL writes `::ffff:7f00:1`) as its
 * IPv4 address, so that a rule on an address holds whichever way it is written.
 */
export function hostForRules(hostname: string): string {
  let host = hostname;
  if (host.startsWith('[')) host = host.slice(1, -1);
  if (host.endsWith('.')) host = host.slice(0, -1);
  // Most targets arrive lower-cased already (WHATWG URL); CONNECT authorities may not.
  if (/[A-Z]/.test(host)) host = host.toLowerCase();
  return host.includes(':') ? (ipv4Mapped(host) ?? host) : host;
}

const MAPPED_HEX = /^(?:0{0,4}:){0,5}:?ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/;
const MAPPED_DOTTED = /^(?:0{0,4}:){0,5}:?ffff:(\d{1,3}(?:\.\d{1,3}){3})$/;

/** The IPv4 address inside an IPv4-mapped IPv6 address (lower case, no brackets), else undefined. */
export function ipv4Mapped(host: string): string | undefined {
  const dotted = MAPPED_DOTTED.exec(host);
  if (dotted) return dotted[1];
  const hex = MAPPED_HEX.exec(host);
  if (!hex) return undefined;
  const high = Number.parseInt(hex[1]!, 16);
  const low = Number.parseInt(hex[2]!, 16);
  return `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`;
}

/**
 * A regular expression matched anywhere in a name (ProxyMapService's, .NET's IsMatch) written as
 * one that must match the whole name, as patterns between slashes do here: `.*` on each side its
 * own `^` or `$` did not anchor (with alternatives, `^` and `$` may anchor only some of them:
 * then the whole of it goes in a group between two `.*`, where they still anchor).
 */
function wholeNameForm(pattern: string): string {
  if (hasTopLevelAlternative(pattern)) return `/.*(?:${pattern}).*/`;
  const start = pattern.startsWith('^');
  const end = pattern.endsWith('$') && !pattern.endsWith('\\$');
  const body = pattern.slice(start ? 1 : 0, end ? -1 : undefined);
  return `/${start ? '' : '.*'}${body}${end ? '' : '.*'}/`;
}

/** Whether a `|` outside every group and character class splits the pattern. */
function hasTopLevelAlternative(pattern: string): boolean {
  let depth = 0;
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '\\') i++;
    else if (inClass) inClass = c !== ']';
    else if (c === '[') inClass = true;
    else if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === '|' && depth === 0) return true;
  }
  return false;
}
