import { RequestError } from 'proxy-chain';
import type { HttpTarget } from '../upstream/route.js';
import { alreadyCanonical, emptyLabel, tooLong } from './target-host.js';

/** What httpTarget needs of a parsed target: WHATWG URL's hostname and port ('' for the default). */
export interface TargetParse {
  readonly hostname: string;
  readonly port: string;
}

// A port as URL gives it back: digits without a leading zero (URL drops those zeros).
const PLAIN_PORT = /^[1-9]\d{0,4}$/;

/**
 * The target of an absolute-URI request, `http://host[:port]/path?query`. Where to connect
 * comes from WHATWG `URL` (proxy-chain's parse: lower-cased, IDNA, brackets); what is *sent*
 * is cut from the client's own bytes, so `/a/../b\c` reaches the target as written (up to a
 * fragment, which is not sent).
 */
export function httpTarget(url: string, parsed: TargetParse): HttpTarget {
  let end = 7; // after "http://"
  while (end < url.length && url[end] !== '/' && url[end] !== '?') end++;
  let authority = url.slice(7, end);
  const at = authority.lastIndexOf('@');
  // Credentials in the URI are the client's business with the target, not the upstream's.
  if (at >= 0) authority = authority.slice(at + 1);
  const rest = upToFragment(url, end);
  const path = rest === '' ? '/' : rest[0] === '?' ? `/${rest}` : rest;
  const hostname = parsed.hostname.startsWith('[') ? parsed.hostname.slice(1, -1) : parsed.hostname;
  const port = parsed.port === '' ? 80 : Number(parsed.port);
  // `http:///x`: URL finds a host in the path, but the request names none to send as Host.
  if (authority === '' || port === 0) throw new RequestError('the URL names no host, or port 0: send http://host[:port]/path', 400);
  // RFC 1035: no host name is longer (URL takes any length; host rules should never run over, and
  // remember, kilobytes a client chose).
  if (tooLong(hostname)) throw new RequestError("the URL's host is over 253 characters: no host name is that long", 400);
  // As a CONNECT's: host rules would not see `api.test..` as api.test, nor the API `portmapper..`.
  if (emptyLabel(hostname)) throw new RequestError("the URL's host has an empty label (as in a..b): it is no host name", 400);
  return {
    hostname,
    port,
    authority,
    // Rebuilt unless the client wrote it as undici takes it: no user info, a path, and the scheme
    // in lower case (RFC 3986 3.1: `HTTP://` is the same scheme; undici refuses it).
    absoluteUrl: at < 0 && end + rest.length === url.length && rest !== '' && rest[0] === '/' && url.startsWith('http://') ? url : `http://${authority}${path}`,
    path,
  };
}

/**
 * `url` from `from` on, up to its fragment if it has one. A fragment is the client's own (RFC
 * 9110 4.2.5: no request carries one; absolute-form has none): an upstream reading
 * `/#@evil.test` its own way could see another host in it, and the session API another path.
 */
export function upToFragment(url: string, from = 0): string {
  const hash = url.indexOf('#', from);
  return hash < 0 ? url.slice(from) : url.slice(from, hash);
}

/**
 * The hostname and port WHATWG URL gives for an absolute-URI request, without parsing a URL,
 * when its authority is already as URL gives it back: `http://` in lower case, a host
 * canonicalHost takes unchanged (a lower-case name or a dotted quad), an optional port of digits
 * without a leading zero up to 65535, then the path, the query or the end. Undefined for any
 * other spelling (user info, upper case, escapes, brackets, a `\` or `#`, a default port
 * written `:080`...): URL reads those, and proxy-chain's parse answers 400 for what it cannot.
 * proxy-chain's parse was a URL, an object of eleven fields and a log string per request, about
 * 2 % of a plain request's CPU (`node bench/profile.mjs http`).
 */
export function plainTarget(url: string): TargetParse | undefined {
  if (!url.startsWith('http://')) return undefined;
  let end = 7;
  let colon = -1;
  for (; end < url.length; end++) {
    const c = url.charCodeAt(end);
    if (c === 0x2f || c === 0x3f) break; // '/', '?'
    if (c === 0x3a) {
      if (colon >= 0) return undefined; // ':' twice: an IPv6 address unbracketed, or garbage
      colon = end;
    }
  }
  const hostname = url.slice(7, colon < 0 ? end : colon);
  if (!alreadyCanonical(hostname)) return undefined;
  if (colon < 0) return { hostname, port: '' };
  const port = url.slice(colon + 1, end);
  if (!PLAIN_PORT.test(port) || Number(port) > 65_535) return undefined;
  return { hostname, port: port === '80' ? '' : port };
}

// proxy-chain's 400 for a target it cannot parse quotes the request's URL whole.
const UNPARSED = /^Target "(.*)" could not be parsed$/s;

/**
 * proxy-chain's "could not be parsed" 400 with the credentials of the quoted target masked
 * (`http://alice:secret@host:99999/` does not parse, and the answer repeated the password):
 * everything after the scheme up to the last `@`. A password may hold an unencoded `/` or `?`,
 * so the authority's end cannot be trusted in a target that does not parse; masking an `@` of
 * the path too hides only what the client itself sent. Any other error as it is.
 */
export function withoutTargetCredentials(error: RequestError): RequestError {
  const quoted = UNPARSED.exec(error.message)?.[1];
  if (quoted === undefined) return error;
  const start = /^[a-z][a-z0-9+.-]*:\/\//i.test(quoted) ? quoted.indexOf('//') + 2 : 0;
  const at = quoted.lastIndexOf('@');
  if (at < start) return error;
  return new RequestError(`Target "${quoted.slice(0, start)}***${quoted.slice(at)}" could not be parsed`, error.statusCode, error.headers);
}

