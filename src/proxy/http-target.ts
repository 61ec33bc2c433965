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
