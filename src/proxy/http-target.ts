import { RequestError } from 'proxy-chain';
import type { HttpTarget } from '../upstream/route.js';
import { emptyLabel, tooLong } from './target-host.js';

/**
 * The target of an absolute-URI request, `http://host[:port]/path?query`. Where to connect
 * comes from WHATWG `URL` (proxy-chain's parse: lower-cased, IDNA, brackets); what is *sent*
 * is cut from the client's own bytes, so `/a/../b\c` reaches the target as written.
 */
export function httpTarget(url: string, parsed: URL): HttpTarget {
  let end = 7; // after "http://"
  while (end < url.length && url[end] !== '/' && url[end] !== '?') end++;
  let authority = url.slice(7, end);
  const at = authority.lastIndexOf('@');
  // Credentials in the URI are the client's business with the target, not the upstream's.
  if (at >= 0) authority = authority.slice(at + 1);
  const rest = url.slice(end);
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
    absoluteUrl: at < 0 && rest !== '' && rest[0] === '/' && url.startsWith('http://') ? url : `http://${authority}${path}`,
    path,
  };
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

