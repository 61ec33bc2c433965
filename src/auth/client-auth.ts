import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { MappingConfig } from '../config/load.js';
import { loginParameters, splitLogin, type SessionParams } from '../session/parameters.js';

/**
 * A secret compared in constant time: both sides are hashed first, so neither the length nor
 * the first differing byte of the secret shows in the timing. Parts are joined with NUL, which
 * keeps "ab"+"c" apart from "a"+"bc".
 */
export class Secret {
  private readonly digest: Buffer;

  constructor(...parts: string[]) {
    this.digest = digestOf(parts);
  }

  matches(...parts: string[]): boolean {
    return timingSafeEqual(digestOf(parts), this.digest);
  }
}

/** Checks client proxy logins (user name and password) in constant time. */
export class ClientAuth {
  private readonly login: Secret;

  constructor(username: string, password: string) {
    this.login = new Secret(username, password);
  }

  matches(username: string, password: string): boolean {
    return this.login.matches(username, password);
  }

  /** For a raw `Proxy-Authorization` header (the session API path, outside proxy-chain). */
  matchesHeader(header: string | undefined): boolean {
    const login = parseBasic(header);
    return login !== undefined && this.matches(login.username, login.password);
  }
}

/**
 * A request's Proxy-Authorization when it carries exactly one. Node keeps the first of several
 * in `headers`; a filter in front of stickyport may keep the last, and read another login than
 * the one checked here: a request with two is read as having none that counts (a 407 where a
 * login is required, else 400 or no login, as for a malformed one).
 */
export function proxyAuthorization(request: { readonly headers: IncomingHttpHeaders; readonly rawHeaders: readonly string[] }): string | undefined {
  const header = request.headers['proxy-authorization'];
  if (header === undefined) return undefined;
  let seen = 0;
  for (let i = 0; i < request.rawHeaders.length; i += 2) {
    const name = request.rawHeaders[i]!;
    if (name.length === 19 && name.toLowerCase() === 'proxy-authorization' && ++seen > 1) return TWO_LOGINS;
  }
  return header;
}

/** What proxyAuthorization answers for two: no Basic login (every reader refuses it). */
const TWO_LOGINS = 'two Proxy-Authorization headers';

export function parseBasic(header: string | undefined): { username: string; password: string } | undefined {
  const token = basicToken(header);
  if (token === undefined) return undefined;
  const decoded = Buffer.from(token, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/**
 * The Base64 token of a `Basic` login in its one canonical form (RFC 4648 section 4, padded), or
 * undefined. Node's decoder takes much else (the URL-safe alphabet, "=" or
 * foreign characters inside, stray bits, a second token), so one login had many spellings that
 * another parser in front of stickyport would read differently. Every reader of a login here
 * (plain HTTP and CONNECT through proxy-chain's parse, the session API, SOCKS5 has its own
 * framing) takes only this one.
 */
export function basicToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  // Spaces and tabs only (RFC 9110 OWS; one or more spaces after the scheme, as proxy-chain
  // reads it): JavaScript's \s takes a no-break space (0xA0) and other Unicode spaces too.
  const match = /^[ \t]*basic +([A-Za-z0-9+/]+)(={0,2})[ \t]*$/i.exec(header);
  if (!match) return undefined;
  const [, body, padding] = match as unknown as [string, string, string];
  // Decoded and encoded again it must come back as written: padded, no stray bits at the end.
  const token = body + padding;
  return Buffer.from(token, 'base64').toString('base64') === token ? token : undefined;
}

function digestOf(parts: string[]): Buffer {
  return createHash('sha256').update(parts.join('\0')).digest();
}

/** What a login is allowed: refused (407), or accepted with the parameters it carries. */
export type LoginVerdict = { readonly ok: false } | { readonly ok: true; readonly params: SessionParams | undefined };

const REFUSED: LoginVerdict = Object.freeze({ ok: false });
const ACCEPTED: LoginVerdict = Object.freeze({ ok: true, params: undefined });

/**
 * One mapping's client login: whether one is required, the configured user name and password,
 * and, with Authentication.ParseUsernameParameters, the parameters a login carries after the
 * user name (`user-country-de`). The password is checked against the user name without them.
 */
export class LoginPolicy {
  readonly required: boolean;
  /** The configured login, when there is one (required or not: the session API accepts it). */
  private readonly auth: ClientAuth | undefined;
  private readonly username: string;
  private readonly parse: boolean;

  constructor(
    config: MappingConfig['auth'],
    private readonly declared: ReadonlySet<string>,
  ) {
    this.required = config.required;
    this.username = config.username;
    this.auth = config.username ? new ClientAuth(config.username, config.password) : undefined;
    this.parse = config.parseUsernameParameters && declared.size > 0;
  }

  /** Whether the port has a client login at all (one a caller could send instead of a password). */
  get hasLogin(): boolean {
    return this.auth !== undefined;
  }

  /**
   * A proxy request's login: refused when a login is required and this is not it; else accepted
   * with its parameters. Parameters choose the port's session (a new one when they differ), so
   * where a login is configured they count only with its password, required or not: a wrong
   * one is refused (407), not taken as no login. Malformed parameters throw a ParameterError
   * (400), only once the login itself was found right.
   */
  check(username: string, password: string): LoginVerdict {
    if (!this.parse) return !this.required || this.auth!.matches(username, password) ? ACCEPTED : REFUSED;
    const split = splitLogin(username, this.declared, this.username);
    const mustMatch = this.required || (split.rest !== undefined && this.auth !== undefined);
    if (mustMatch && !this.auth!.matches(split.base, password)) return REFUSED;
    return split.rest === undefined ? ACCEPTED : { ok: true, params: loginParameters(split.rest, this.declared) };
  }

  /** A login is configured (required or not): the session API accepts it, SOCKS5 asks for it. */
  get configured(): boolean {
    return this.auth !== undefined;
  }

  /** True when a raw `Proxy-Authorization` header holds the configured login (parameters aside). */
  matchesHeader(header: string | undefined): boolean {
    return this.matchesLogin(parseBasic(header));
  }

  /** True when `login` (from a header, or a SOCKS5 handshake) is the configured one, parameters aside. */
  matchesLogin(login: { username: string; password: string } | undefined): boolean {
    if (!this.auth || !login) return false;
    const base = this.parse ? splitLogin(login.username, this.declared, this.username).base : login.username;
    return this.auth.matches(base, login.password);
  }
}
