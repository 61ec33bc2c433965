import { isIP } from 'node:net';
import { ipv4Mapped } from '../rules/host-pattern.js';

// RFC 1035: a name is at most 253 characters (255 octets on the wire). Longer is no host, and a
// host rule's pattern should never be run over a client's 16 KB of text.
const MAX_HOST_LENGTH = 253;
const EMPTY_LABEL = /^\.|\.\./;
// Hosts WHATWG URL gives back unchanged, so no URL need be parsed for them (a CONNECT's host
// is one of these nearly always; the parse was 2 % of a CONNECT cycle's CPU): a dotted quad
// without leading zeros, or lower-case names of letters, digits and hyphens whose labels are
// not empty (a trailing dot aside), none starting `xn--` (URL checks those as punycode), the
// last not a number (URL would read the whole host as an IPv4 address).
const DOTTED_QUAD = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;
const PLAIN_NAME = /^(?:[a-z0-9-]+\.)*([a-z0-9-]+)\.?$/;
const NUMBER_LABEL = /^(?:\d+|0x[0-9a-f]*)$/;
const PUNYCODE_LABEL = /(?:^|\.)xn--/;

/**
 * A tunnel target's host (a CONNECT authority's, a SOCKS name) as plain HTTP gets it from
 * WHATWG URL, so that host rules and the private-target check see one spelling whichever way a
 * client wrote it: lower case, percent escapes decoded, an IPv4 address in any form `inet_aton`
 * takes (`127.1`, `0x7f.1`, `2130706433`) as a dotted quad, an IPv4-mapped IPv6 address as
 * its IPv4 address; no brackets. Undefined when it is no host: a character no host name may hold
 * (NUL, `%` undecoded, space), an empty label, or over 253 characters.
 */
export function canonicalHost(host: string): string | undefined {
  if (host === '' || host.length > MAX_HOST_LENGTH + 2) return undefined;
  return alreadyCanonical(host) ? host : canonicalHostByUrl(host);
}

/** canonicalHost's answer from WHATWG URL alone, for any host (the reference its shortcut is tested against). */
export function canonicalHostByUrl(host: string): string | undefined {
  if (host === '' || host.length > MAX_HOST_LENGTH + 2) return undefined;
  const literal = host.startsWith('[') ? host : isIP(host) === 6 ? `[${host}]` : host;
  let hostname: string;
  try {
    hostname = new URL(`http://${literal}/`).hostname;
  } catch {
    return undefined;
  }
  if (hostname.startsWith('[')) {
    const address = hostname.slice(1, -1);
    return ipv4Mapped(address) ?? address;
  }
  return tooLong(hostname) || emptyLabel(hostname) ? undefined : hostname;
}

/** A host WHATWG URL gives back as it is: no URL need be parsed for it (see the patterns above). */
export function alreadyCanonical(host: string): boolean {
  if (DOTTED_QUAD.test(host)) return true;
  const name = PLAIN_NAME.exec(host);
  return name !== null && !NUMBER_LABEL.test(name[1]!) && !PUNYCODE_LABEL.test(host) && !tooLong(host);
}

/** A name with an empty label (`a..b`, `.a`, `a..`): no host name, whichever way it came. */
export function emptyLabel(hostname: string): boolean {
  return EMPTY_LABEL.test(hostname);
}

/** Over 253 characters, not counting a trailing dot. */
export function tooLong(hostname: string): boolean {
  return hostname.length - (hostname.endsWith('.') ? 1 : 0) > MAX_HOST_LENGTH;
}
