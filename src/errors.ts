/**
 * Every error stickyport raises on purpose carries a stable `code` (for logs and tests) and,
 * where a client sees it, the HTTP `status` it is answered with.
 *
 * Codes:
 * - CONFIG_INVALID         a settings file is not JSON or not an object, or a key is unknown or
 *                          holds a value it does not accept (exit code 2); the message names
 *                          each key, its value (secrets masked), its layer and what is accepted
 * - LISTEN_FAILED          one or more ports of the range could not be bound (exit code 1)
 * - UPSTREAM_REFUSED       502: the upstream proxy (or direct target) refused the TCP connection
 * - UPSTREAM_UNREACHABLE   502: DNS or network error on the way to the upstream
 * - UPSTREAM_AUTH          502: the upstream proxy answered 407: its credentials were rejected
 *                          (SOCKS5: a failed login, no login method it accepts, or a login
 *                          longer than SOCKS5 carries, which is never sent)
 * - UPSTREAM_STATUS        502: the upstream proxy refused a CONNECT with another status
 * - UPSTREAM_RESET         502: the upstream closed the connection before answering
 * - UPSTREAM_TIMEOUT       504: no connection to the upstream within Upstream.ConnectTimeout, or
 *                          no answer to a plain request within Upstream.ResponseTimeout
 * - UPSTREAM_PROTOCOL      502: the upstream (or the target) answered with something that is not
 *                          HTTP stickyport can relay: a malformed status line or header, bad framing,
 *                          an unasked-for 101
 * - TARGET_FORBIDDEN       403: a direct connection to a private or loopback address while
 *                          Listen.AllowPrivateTargets forbids it
 * - BAD_REQUEST            400: a request that cannot be forwarded as exactly one request
 *                          (two Host headers, framing a hop could not keep)
 * - SOCKS_HANDSHAKE        a SOCKS client's handshake cannot go on: malformed (wrong version,
 *                          truncated, oversized, too slow), unsupported (BIND, UDP ASSOCIATE, an
 *                          unknown address type), or refused (a wrong SOCKS5 login, a SOCKS4
 *                          client while Authentication.Required is on); answered with the SOCKS
 *                          reply that says so, or closed
 * - BAD_PARAMETER          400: a user name parameter in the proxy login (or the session API's
 *                          query) that is not declared in Upstream.Parameters, or whose value is
 *                          not 1-64 of A-Z a-z 0-9 _, or values that would make a SOCKS5
 *                          upstream's login longer than 255 bytes; nothing was sent upstream
 * - HOST_DENIED            403: a host rule with Action Deny matched the target; nothing was
 *                          sent upstream. The message names the rule (`HostRules[2]`)
 * - HTTP_REJECTED          403: a plain proxied HTTP request on a port whose mapping sets
 *                          Listen.RejectHttpProxy (CONNECT only); the session API still answers
 * - STOPPING               503: the request was still waiting for its upstream when the drain ended
 * - PARAMETERS_CONFLICT    409: clients of one port kept asking, at the same moment, for different
 *                          user name parameters (each rotating the port's one session); nothing
 *                          was sent upstream
 * - STORE_UNAVAILABLE      503: a login asked for other user name parameters and the session
 *                          store could not save the new session; nothing was sent upstream
 * - CONTROL_HEADER         400: an X-Stickyport-Session header other than `new`, or a header of
 *                          per-request control sent twice; nothing was sent upstream
 * - CONTROL_FORBIDDEN      403: X-Stickyport-Session headers without the proxy login while
 *                          SessionAPI.Password is set; nothing was sent upstream
 * - IDENTITY_UNAVAILABLE   502: the echo URL (Identity.EchoUrl) could not tell a session's exit
 *                          IP: it failed, answered another status, or answered no IP
 * - INTERNAL               500: a bug: an exception in a request's path, logged with its port
 *
 * 400 and 407 answers to clients come from proxy-chain's RequestError; the session API answers
 * its own errors as JSON (`store_unavailable`, 503, when the store fails; `identity_off`, 400, for
 * `/session/?ip=1` without Identity.EchoUrl; `identity_unavailable`, 502, when the echo URL
 * could not tell the exit IP).
 */
export type ErrorCode =
  | 'CONFIG_INVALID'
  | 'LISTEN_FAILED'
  | 'UPSTREAM_REFUSED'
  | 'UPSTREAM_UNREACHABLE'
  | 'UPSTREAM_AUTH'
  | 'UPSTREAM_STATUS'
  | 'UPSTREAM_RESET'
  | 'UPSTREAM_TIMEOUT'
  | 'UPSTREAM_PROTOCOL'
  | 'TARGET_FORBIDDEN'
  | 'BAD_REQUEST'
  | 'SOCKS_HANDSHAKE'
  | 'BAD_PARAMETER'
  | 'HOST_DENIED'
  | 'HTTP_REJECTED'
  | 'STOPPING'
  | 'STORE_UNAVAILABLE'
  | 'PARAMETERS_CONFLICT'
  | 'CONTROL_HEADER'
  | 'CONTROL_FORBIDDEN'
  | 'IDENTITY_UNAVAILABLE'
  | 'INTERNAL';

export class StickyportError extends Error {
  readonly code: ErrorCode;
  readonly status: number;

  constructor(code: ErrorCode, message: string, options: { status?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'StickyportError';
    this.code = code;
    this.status = options.status ?? 500;
  }
}

export class ConfigError extends StickyportError {
  /**
   * Dotted names of the offending keys, e.g. `Listen.PortRange.Start`; a file's path when the
   * file as a whole is refused; `--config` when that file does not exist.
   */
  readonly keys: readonly string[];

  constructor(message: string, keys: readonly string[]) {
    super('CONFIG_INVALID', message);
    this.name = 'ConfigError';
    this.keys = keys;
  }
}

export class UpstreamError extends StickyportError {
  /** The status the upstream refused a tunnel with (UPSTREAM_STATUS, UPSTREAM_AUTH), for rotation rules. */
  readonly upstreamStatus?: number;
  /**
   * The refusal is the target's, passed on by a working upstream (a SOCKS5 reply 0x05): it says
   * nothing against that upstream, so a pool does not cool it down for it.
   */
  byTarget?: boolean;

  constructor(code: ErrorCode, message: string, cause?: unknown, upstreamStatus?: number) {
    super(code, message, { status: code === 'UPSTREAM_TIMEOUT' ? 504 : 502, cause });
    this.name = 'UpstreamError';
    if (upstreamStatus !== undefined) this.upstreamStatus = upstreamStatus;
  }
}
