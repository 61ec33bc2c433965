import { RequestError } from 'proxy-chain';
import type { HttpTarget } from '../upstream/route.js';
import { overFieldLimit } from './header-fields.js';

// Headers that describe one hop (RFC 9110 7.6.1, RFC 9112): they stop at the proxy in both
// directions. Transfer-Encoding goes too: each hop frames its own body (undici towards the
// upstream, Node's ServerResponse towards the client, which never chunks for HTTP/1.0).
// Expect is answered here ("100 Continue" once the request is forwarded: proxy-engine.ts), so
// it does not go on either.
const HOP_BY_HOP = new Set([
  // stickyport's own per-request control (control-headers.ts): for this proxy, never beyond it.
  'x-stickyport-session',
  'x-stickyport-session-params',
  'connection',
  'keep-alive',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'expect',
]);

/**
 * Whether a header (its lower-case name) stops at this hop: the list above, and every Proxy-*
 * field (Proxy-Authorization, -Authenticate, -Authentication-Info, -Connection, -Status...):
 * each is about one proxy hop, the provider's about stickyport's own login to it.
 */
function isHopByHop(lower: string): boolean {
  return HOP_BY_HOP.has(lower) || (lower.charCodeAt(0) === 112 /* p */ && lower.startsWith('proxy-'));
}

// A Connection header may name more headers to drop, but never these: dropping Content-Length
// while the body still goes on turns the body into a second request (request smuggling), and
// Host is set from the request's own URI.
const NEVER_NAMED = new Set(['content-length', 'transfer-encoding', 'host', 'close', 'keep-alive']);

const PLAIN_CONNECTION_VALUE = /^\s*(?:keep-alive|close)\s*$/i;

/**
 * X-Stickyport-* in an answer are this proxy's own words (X-Stickyport-Error on its failures,
 * X-Stickyport-Session-Id): one from the upstream would pass for stickyport's, so it is dropped.
 * `lower`: a lower-case header name.
 */
export function isOwnAnswerHeader(lower: string): boolean {
  return lower.startsWith('x-stickyport-');
}

/**
 * Undefined when the request's framing can be passed on as exactly one request, else why not.
 * A Transfer-Encoding other than plain `chunked` cannot be re-framed without losing a coding,
 * and on HTTP/1.0 it is faulty framing (RFC 9112 6.1, 6.3): both are a 400, never a guess.
 */
export function unframeableRequest(request: { httpVersionMinor: number; headers: { 'transfer-encoding'?: string } }): string | undefined {
  const coding = request.headers['transfer-encoding'];
  if (coding === undefined) return undefined;
  if (request.httpVersionMinor === 0) return 'Transfer-Encoding on an HTTP/1.0 request';
  if (coding.trim().toLowerCase() !== 'chunked') return `Transfer-Encoding "${coding.slice(0, 40)}" (only chunked is accepted)`;
  return undefined;
}

/**
 * The headers a plain request carries upstream: end-to-end headers as the client sent them,
 * with Host set from the absolute URI's authority (a Host that disagrees with the URI is
 * replaced; two Host headers are a 400: which one would the next hop believe?).
 */
export function requestHeadersOut(raw: string[], target: HttpTarget): string[] {
  const headers: string[] = [];
  let named: string[] | undefined;
  let hosts = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    if (lower === 'host') {
      hosts++;
      continue;
    }
    if (isHopByHop(lower)) {
      if (lower === 'connection' && !PLAIN_CONNECTION_VALUE.test(raw[i + 1]!)) (named ??= []).push(raw[i + 1]!);
      continue;
    }
    headers.push(name, raw[i + 1]!);
  }
  if (hosts > 1) throw new RequestError('two Host headers: send one', 400);
  if (named) dropNamed(headers, named);
  headers.push('host', target.authority);
  return headers;
}

/**
 * The headers of an upstream answer as the client gets them, from undici's raw Buffers. Only
 * Content-Length of the framing survives (when the answer was not chunked): Node frames the
 * rest for the client's own HTTP version. Undefined when the answer's body carries a transfer
 * coding other than chunked (`gzip`, `chunked, gzip`): undici undoes only chunked, and with the
 * header dropped the client would take the still-coded bytes for the content. (`bodyless`: an
 * answer to HEAD, a 204 or a 304, which has no body to be coded.)
 */
export function responseHeadersBack(raw: Buffer[], status: number, bodyless = false): string[] | undefined {
  const headers: string[] = [];
  let named: string[] | undefined;
  // Every Transfer-Encoding field, joined: two fields are one list (RFC 9110 5.3).
  let codings: string | undefined;
  let framedByCoding = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toString('latin1');
    const lower = name.toLowerCase();
    if (isHopByHop(lower)) {
      if (lower === 'transfer-encoding') {
        const value = raw[i + 1]!.toString('latin1');
        framedByCoding = true;
        // A blank field adds no coding (the parser still decodes a chunked field before it).
        if (!BLANK.test(value)) codings = codings === undefined ? value : `${codings},${value}`;
      } else if (lower === 'connection') {
        const value = raw[i + 1]!.toString('latin1');
        if (!PLAIN_CONNECTION_VALUE.test(value)) (named ??= []).push(value);
      }
      continue;
    }
    if (isOwnAnswerHeader(lower)) continue;
    headers.push(name, raw[i + 1]!.toString('latin1'));
  }
  if (codings !== undefined && !bodyless && !chunkedOnce(codings)) return undefined;
  if (named) dropNamed(headers, named);
  // A 204 has no body and must not say it has one (RFC 9110 8.6).
  if (framedByCoding || status === 204) dropNamed(headers, ['content-length'], true);
  return headers;
}

const BLANK = /^[ \t]*$/;
/** A list element as llhttp reads it: spaces or tabs before it, only spaces after it. */
const ELEMENT_SPACE = /^[ \t]+| +$/g;

/**
 * The codings are chunked, once, and nothing else (in any case; empty list elements before it
 * are no codings). llhttp decodes one chunked layer, and only when it comes last and is followed
 * by nothing but spaces: `chunked, chunked` would reach the client still chunk-coded, and
 * `chunked,` or `chunked<TAB>` not decoded at all. Anything it would not decode exactly once is
 * refused, never relayed.
 */
function chunkedOnce(codings: string): boolean {
  if (codings === 'chunked') return true;
  const tokens = codings.split(',').map((token) => token.replace(ELEMENT_SPACE, '').toLowerCase());
  return tokens.at(-1) === 'chunked' && tokens.filter((token) => token !== '').length === 1;
}

/**
 * Every Transfer-Encoding value of an answer, quoted for the message that refuses it: bytes
 * outside printable ASCII (a tab, a NBSP) are what made it refused, so they are shown as \\uXXXX.
 */
export function transferCodings(raw: Buffer[]): string {
  const values: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.toString('latin1').toLowerCase() === 'transfer-encoding') values.push(raw[i + 1]!.toString('latin1'));
  }
  return JSON.stringify(values.join(', ')).replace(/[^\x20-\x7e]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

// Fields a trailer must not carry (RFC 9110 6.5.1: framing, routing, authentication, response
// control, cookies, hop-by-hop): a client merging trailers into the head would take them for the
// answer's own (a Location, a Set-Cookie arriving after the body).
// (Hop-by-hop fields are refused by isHopByHop beside this list.)
const NOT_IN_TRAILERS = new Set([
  'content-length', 'content-encoding', 'content-type', 'content-range', 'content-location', 'content-disposition', 'host',
  'authorization', 'www-authenticate', 'authentication-info', 'set-cookie', 'cookie',
  'location', 'cache-control', 'expires', 'date', 'age', 'vary', 'retry-after', 'max-forwards', 'trailer',
]);

/** Trailers of a chunked answer, as [name, value] pairs for ServerResponse.addTrailers. */
export function trailerPairs(raw: Array<Buffer | string>): Array<[string, string]> {
  // More fields than a request may carry (header-fields.ts): none is relayed.
  if (overFieldLimit(raw)) return [];
  const text = (item: Buffer | string): string => (typeof item === 'string' ? item : item.toString('latin1'));
  const pairs: Array<[string, string]> = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = text(raw[i]!);
    const lower = name.toLowerCase();
    if (!isOwnAnswerHeader(lower) && !NOT_IN_TRAILERS.has(lower) && !isHopByHop(lower)) pairs.push([name, text(raw[i + 1]!)]);
  }
  return pairs;
}

function dropNamed(headers: string[], values: string[], framing = false): void {
  const names = new Set<string>();
  for (const value of values) {
    for (const token of value.split(',')) {
      const name = token.trim().toLowerCase();
      if (framing || !NEVER_NAMED.has(name)) names.add(name);
    }
  }
  if (names.size === 0) return;
  // One pass, kept pairs moved down in place: a splice per match was quadratic (16 000 fields
  // named by one Connection header cost 25 ms of CPU per answer).
  let kept = 0;
  for (let i = 0; i < headers.length; i += 2) {
    if (names.has(headers[i]!.toLowerCase())) continue;
    headers[kept++] = headers[i]!;
    headers[kept++] = headers[i + 1]!;
  }
  headers.length = kept;
}
