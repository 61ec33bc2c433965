import { SocksClientError } from 'socks';
import { StickyportError, UpstreamError } from '../errors.js';
import { RetiredBeforeSent } from './route.js';

/**
 * Turns a failure on the way to `peer` (the upstream proxy, or the target itself when there is
 * no upstream) into the 502/504 the client gets, with a short reason (or, after the answer's
 * head, what the request log and the identity check say of the cut). Classified by the error
 * codes Node, undici and llhttp give; only the `socks` library, which has no codes, is read by
 * its messages (see socksFailure).
 */
export function upstreamFailure(error: unknown, peer: string, when: 'before' | 'upload' | 'answer' = 'before'): StickyportError {
  if (error instanceof StickyportError) return error;
  if (error instanceof RetiredBeforeSent) {
    // Not the upstream's failure: the port's session kept being replaced under the request.
    return new UpstreamError('UPSTREAM_RESET', `the port's session was replaced each time the request was about to go to ${peer}: nothing was sent`, error);
  }
  const err = error as NodeJS.ErrnoException;
  const code = err?.code ?? '';
  switch (code) {
    case 'ECONNREFUSED':
      return new UpstreamError('UPSTREAM_REFUSED', `${peer} refused the connection`, err);
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_NODATA':
    case 'EAI_NONAME':
      return new UpstreamError('UPSTREAM_UNREACHABLE', `cannot resolve ${peer}`, err);
    case 'ETIMEDOUT':
    case 'UND_ERR_CONNECT_TIMEOUT':
      return new UpstreamError('UPSTREAM_TIMEOUT', `no connection to ${peer} within Upstream.ConnectTimeout`, err);
    case 'UND_ERR_HEADERS_TIMEOUT':
      // Maybe nothing, maybe part of a head, or a head a byte at a time: no whole head in time.
      return new UpstreamError('UPSTREAM_TIMEOUT', `${peer} sent no complete answer head within Upstream.ResponseTimeout`, err);
    case 'UND_ERR_BODY_TIMEOUT':
      return new UpstreamError('UPSTREAM_TIMEOUT', `${peer} sent nothing more of its answer for Upstream.ResponseTimeout`, err);
    case 'ECONNRESET':
    case 'EPIPE':
      // `when` the caller saw it (the error does not say): after the answer's head, or while the
      // request's body was still going up (an answer given before the close is read and relayed
      // all the same: see keepReadingPastWriteError).
      if (when === 'answer') return new UpstreamError('UPSTREAM_RESET', `${peer} reset the connection before its answer was complete`, err);
      if (when === 'upload') return closedDuringUpload(peer, err);
      return new UpstreamError('UPSTREAM_RESET', `${peer} closed the connection before answering`, err);
    case 'UND_ERR_SOCKET':
      // undici's own words tell a broken connection ("other side closed") from an answer it
      // refused: a 101 nobody asked for ("bad upgrade"), a 100 ("bad response").
      if (err.message === 'bad upgrade') {
        return new UpstreamError('UPSTREAM_PROTOCOL', `${peer} switched protocols (101) on a request that did not ask to`, err);
      }
      if (err.message === 'bad response') {
        return new UpstreamError('UPSTREAM_PROTOCOL', `${peer} answered with a 100 Continue nobody asked for`, err);
      }
      // The end of stream that follows a reset whose error the body's write already took.
      if (when === 'upload' && err.message === 'other side closed') return closedDuringUpload(peer, err);
      return new UpstreamError('UPSTREAM_RESET', `${peer} broke off before a complete answer (${err.message})`, err);
    case 'UND_ERR_HEADERS_OVERFLOW':
      return new UpstreamError('UPSTREAM_PROTOCOL', `${peer} sent an answer head over the 16 KiB limit`, err);
    case 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH':
      // undici reports any answer that breaks after a Content-Length header this way (a second
      // Content-Length, an invalid one), not only a body of another length.
      return new UpstreamError('UPSTREAM_PROTOCOL', `${peer} sent an answer that does not match its Content-Length, or is not valid HTTP after it`, err);
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return new UpstreamError('UPSTREAM_UNREACHABLE', `${peer} is unreachable (${code})`, err);
    default:
      break;
  }
  if (code.startsWith('HPE_')) {
    return new UpstreamError('UPSTREAM_PROTOCOL', `${peer} answered with something that is not valid HTTP (${code})`, err);
  }
  // undici 7.30's parser errors carry no code (it looks llhttp's error name up by number in a
  // table keyed by name): its name and llhttp's reason, in brackets at the end of the message.
  if (err?.name === 'HTTPParserError') {
    const reason = /\(([^()]*)\)$/.exec(err.message)?.[1] ?? 'invalid';
    return new UpstreamError('UPSTREAM_PROTOCOL', `${peer} answered with something that is not valid HTTP (${reason})`, err);
  }
  // undici checks its parser's state with assert(): an answer that breaks one of those checks
  // (a 101 without the Upgrade header that makes it a switch) is the upstream's broken answer,
  // not an unreachable upstream.
  if (code === 'ERR_ASSERTION') {
    const what = /assert\(upgrade\)/.test(err.message) ? 'switched protocols (101) without the Upgrade header a switch needs' : 'sent an answer its HTTP client could not take';
    return new UpstreamError('UPSTREAM_PROTOCOL', `${peer} ${what}`, err);
  }
  // OpenSSL's verdicts on the certificate (Node names them CERT_..., ..._CERT, ..._SIGNATURE,
  // ERR_TLS_CERT_ALTNAME_INVALID) are a trust problem: a private CA goes in NODE_EXTRA_CA_CERTS.
  // Not an alert the upstream sent (ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED: it wants a
  // client certificate), which is its refusal of the handshake.
  if (/CERT|SIGNATURE|ISSUER/.test(code) && !code.includes('_ALERT_')) {
    return new UpstreamError('UPSTREAM_UNREACHABLE', `${peer} presented a TLS certificate that is not trusted (${code})`, err);
  }
  // Bytes that are not TLS where its handshake belongs: mostly a plain-HTTP proxy written as
  // https://, whose answer to the handshake is an HTTP 400.
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || code === 'ERR_SSL_PACKET_LENGTH_TOO_LONG' || code === 'ERR_SSL_HTTP_REQUEST') {
    return new UpstreamError('UPSTREAM_PROTOCOL', `${peer} answered the TLS handshake with something that is not TLS (${code}): a plain-HTTP proxy is written http://`, err);
  }
  if (code === 'ERR_TLS_HANDSHAKE_TIMEOUT') return new UpstreamError('UPSTREAM_TIMEOUT', `${peer} did not complete the TLS handshake in time`, err);
  // Any other handshake failure (an alert, no protocol version or cipher in common).
  if (/^ERR_SSL_|^ERR_TLS_/.test(code)) {
    return new UpstreamError('UPSTREAM_PROTOCOL', `${peer} did not complete the TLS handshake (${code})`, err);
  }
  return socksFailure(err, peer) ?? new UpstreamError('UPSTREAM_UNREACHABLE', `${peer} failed: ${code || err?.message}`, err);
}

/**
 * The `socks` library reports failures as messages only ("Socks5 Authentication failed", ...),
 * in errors of its own class (whose `name` stays "Error").
 */
function socksFailure(err: Error, peer: string): UpstreamError | undefined {
  if (!(err instanceof SocksClientError)) return undefined;
  const message = err.message;
  if (/authentication failed/i.test(message)) {
    return new UpstreamError('UPSTREAM_AUTH', `${peer} rejected the credentials (SOCKS authentication failed)`, err);
  }
  if (/no accepted authentication type/i.test(message)) {
    return new UpstreamError('UPSTREAM_AUTH', `${peer} accepts none of the SOCKS5 login methods offered (no login, or user name and password)`, err);
  }
  if (/timed out/i.test(message)) return new UpstreamError('UPSTREAM_TIMEOUT', `${peer} timed out`, err);
  if (/ECONNREFUSED/.test(message)) return new UpstreamError('UPSTREAM_REFUSED', `${peer} refused the connection`, err);
  // "Socks5 proxy rejected connection - <the reply code's name>": the proxy's own verdict.
  // The library names the codes it knows; another code is "undefined" there. (A reply of
  // another version is told apart before, by the route: socks-route.ts, notSocks.)
  const named = /rejected connection - (\w+)/.exec(message)?.[1];
  const reply = named === 'undefined' ? 'of an unknown code' : named;
  if (reply !== undefined) return socks5Refusal(reply, peer, err);
  if (/rejected/i.test(message)) return new UpstreamError('UPSTREAM_STATUS', `${peer} refused the tunnel (${message})`, err);
  if (/closed|ECONNRESET/i.test(message)) return new UpstreamError('UPSTREAM_RESET', `${peer} closed the connection before answering`, err);
  // "Received invalid Socks5 initial handshake (invalid socks version)", "... (unknown
  // authentication type)": the peer answered, with something that is not SOCKS.
  if (/^Received invalid/i.test(message)) return new UpstreamError('UPSTREAM_PROTOCOL', `${peer} answered with something that is not SOCKS (${message})`, err);
  return new UpstreamError('UPSTREAM_UNREACHABLE', `${peer} failed: ${message}`, err);
}

/** A SOCKS5 reply code other than success, by the name the library gives it, as the HTTP client's failure. */
function socks5Refusal(reply: string, peer: string, err: Error): UpstreamError {
  switch (reply) {
    case 'ConnectionRefused': {
      const refused = new UpstreamError('UPSTREAM_REFUSED', `${peer} could not connect: the target refused (SOCKS5 reply ${reply})`, err);
      // Any client could make a member refuse so, by asking for a closed port: not a cooldown.
      refused.byTarget = true;
      return refused;
    }
    case 'HostUnreachable':
    case 'NetworkUnreachable':
      return new UpstreamError('UPSTREAM_UNREACHABLE', `${peer} could not reach the target (SOCKS5 reply ${reply})`, err);
    case 'TTLExpired':
      return new UpstreamError('UPSTREAM_TIMEOUT', `${peer} timed out reaching the target (SOCKS5 reply ${reply})`, err);
    default:
      return new UpstreamError('UPSTREAM_STATUS', `${peer} refused the tunnel (SOCKS5 reply ${reply})`, err);
  }
}

export function connectTimeout(peer: string, timeoutMs: number): UpstreamError {
  return new UpstreamError('UPSTREAM_TIMEOUT', `no connection to ${peer} within ${timeoutMs} ms`);
}

/** A proxy answering 407 to us means the provider rejected the credentials of the URL template. */
export function upstreamStatusFailure(status: number, peer: string): UpstreamError {
  if (status === 407 || status === 401) {
    return new UpstreamError('UPSTREAM_AUTH', `${peer} answered ${status}: it rejected the upstream credentials`, undefined, status);
  }
  return new UpstreamError('UPSTREAM_STATUS', `${peer} refused the tunnel with status ${status}`, undefined, status);
}

function closedDuringUpload(peer: string, err: Error): UpstreamError {
  return new UpstreamError('UPSTREAM_RESET', `${peer} closed the connection while the request's body was still being sent, without an answer`, err);
}
