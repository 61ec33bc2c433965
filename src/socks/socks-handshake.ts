import type net from 'node:net';
import type { LoginVerdict } from '../auth/client-auth.js';
import type { SessionParams } from '../session/parameters.js';
import { portOf } from '../proxy/listener-pool.js';
import { endWith } from './socks-failures.js';
import type { SocksServer } from './socks-server.js';
import {
  LOGIN_FAILED,
  LOGIN_OK,
  Malformed,
  METHOD_LOGIN,
  METHOD_NONE,
  NEED_MORE,
  NO_ACCEPTABLE_METHOD,
  REPLY,
  SOCKS4_REJECTED,
  invalidTarget,
  parseGreeting,
  parseLogin,
  parseSocks4Request,
  parseSocks5Request,
  socks4Reply,
  socks5Reply,
  type Target,
} from './socks-protocol.js';

/** A SOCKS5 client's RFC 1929 login, kept for the session API's authorization. */
export interface Login {
  readonly username: string;
  readonly password: string;
  /** Username parameters the login carried (Authentication.ParseUsernameParameters). */
  readonly params?: SessionParams;
}

type Step = 'greeting' | 'login' | 'request' | 'socks4';
const DONE = -2;

const CHOSE_NONE = Buffer.from([0x05, METHOD_NONE]);
const CHOSE_LOGIN = Buffer.from([0x05, METHOD_LOGIN]);
const NONE_ACCEPTABLE = Buffer.from([0x05, NO_ACCEPTABLE_METHOD]);
const COMMANDS: Record<number, string> = { 1: 'CONNECT', 2: 'BIND', 3: 'UDP ASSOCIATE' };

/**
 * One client's SOCKS handshake, read as it arrives (a client may send the whole of it in one
 * write, or a byte at a time): SOCKS5 greeting, RFC 1929 login, request; or one SOCKS4/4a
 * request. It must be complete within Listen.HeadersTimeout. A CONNECT goes to the server;
 * anything else is answered with its reply and closed.
 */
export class SocksHandshake {
  private step: Step;
  private pending: Buffer | undefined;
  private login: Login | undefined;
  private readonly deadline: NodeJS.Timeout;

  constructor(
    private readonly server: SocksServer,
    private readonly socket: net.Socket,
    first: Buffer,
  ) {
    this.step = first[0] === 0x05 ? 'greeting' : 'socks4';
    socket.on('error', destroy);
    socket.on('timeout', destroy);
    socket.on('end', destroy);
    socket.on('data', this.onData);
    this.deadline = setTimeout(this.onDeadline, server.options.headersTimeoutMs);
    this.deadline.unref();
    this.onData(first);
  }

  private readonly onData = (chunk: Buffer): void => {
    let bytes = this.pending === undefined ? chunk : Buffer.concat([this.pending, chunk]);
    this.pending = undefined;
    // Each turn takes one message: greeting, login, request (three at most).
    while (bytes.length > 0) {
      const used = this.advance(bytes);
      if (used === DONE) return;
      if (used === NEED_MORE) {
        this.pending = bytes;
        return;
      }
      bytes = bytes.subarray(used);
    }
  };

  private readonly onDeadline = (): void => {
    this.refuse(undefined, `handshake not complete within Listen.HeadersTimeout (${this.step})`, 'debug');
  };

  /** Handles the message at the start of `bytes`: its length, NEED_MORE, or DONE. */
  private advance(bytes: Buffer): number {
    switch (this.step) {
      case 'greeting':
        return this.greeting(bytes);
      case 'login':
        return this.checkLogin(bytes);
      case 'request': {
        const parsed = parseSocks5Request(bytes);
        if (parsed === NEED_MORE) return NEED_MORE;
        if (parsed instanceof Malformed) return this.refuse(parsed.reply, `SOCKS5 ${parsed.reason}`, 'debug');
        const { command, target } = parsed.request;
        if (command !== 0x01) return this.refuse(socks5Reply(REPLY.commandNotSupported), `SOCKS5 ${commandName(command)} is not supported (CONNECT only)`);
        const revoked = this.loginRevoked();
        if (revoked) return this.refuse(socks5Reply(REPLY.notAllowed), `SOCKS5 ${revoked}`);
        return this.connect(5, target, bytes.subarray(parsed.length));
      }
      case 'socks4': {
        const parsed = parseSocks4Request(bytes);
        if (parsed === NEED_MORE) return NEED_MORE;
        if (parsed instanceof Malformed) return this.refuse(parsed.reply, parsed.reason, 'debug');
        const { command, target } = parsed.request;
        if (command !== 0x01) return this.refuse(socks4Reply(SOCKS4_REJECTED), `SOCKS4 ${commandName(command)} is not supported (CONNECT only)`);
        if (this.server.options.loginFor(portOf(this.socket)).required) {
          return this.refuse(socks4Reply(SOCKS4_REJECTED), 'SOCKS4 cannot carry a password and Authentication.Required is on: refused');
        }
        return this.connect(4, target, bytes.subarray(parsed.length));
      }
    }
  }

  private greeting(bytes: Buffer): number {
    const greeting = parseGreeting(bytes);
    if (greeting === NEED_MORE) return NEED_MORE;
    const policy = this.server.options.loginFor(portOf(this.socket));
    const requiredLogin = policy.required;
    const loginConfigured = policy.configured;
    const offersLogin = greeting.methods.includes(METHOD_LOGIN);
    const offersNone = greeting.methods.includes(METHOD_NONE);
    // A client that offers its login gives it when one is configured (it may authorize the
    // session API, as an HTTP client's Proxy-Authorization does); when none is required, any
    // login is let through.
    const login = requiredLogin ? offersLogin : offersLogin && (loginConfigured || !offersNone);
    if (!login && (requiredLogin || !offersNone)) {
      const wanted = requiredLogin ? 'username/password (Authentication.Required is on)' : 'no authentication or username/password';
      return this.refuse(NONE_ACCEPTABLE, `SOCKS5 client offered no acceptable method: ${wanted}`);
    }
    this.socket.write(login ? CHOSE_LOGIN : CHOSE_NONE);
    this.step = login ? 'login' : 'request';
    return greeting.length;
  }

  private checkLogin(bytes: Buffer): number {
    const parsed = parseLogin(bytes);
    if (parsed === NEED_MORE) return NEED_MORE;
    if (parsed instanceof Malformed) return this.refuse(parsed.reply, `SOCKS5 ${parsed.reason}`, 'debug');
    // The same policy as an HTTP login: the mapping's, with its username parameters.
    let verdict: LoginVerdict;
    try {
      verdict = this.server.options.loginFor(portOf(this.socket)).check(parsed.username, parsed.password);
    } catch (error) {
      return this.refuse(LOGIN_FAILED, `SOCKS5 login refused: ${(error as Error).message}`);
    }
    if (!verdict.ok) return this.refuse(LOGIN_FAILED, 'SOCKS5 login refused: wrong user name or password');
    this.login = { username: parsed.username, password: parsed.password, params: verdict.params };
    this.socket.write(LOGIN_OK);
    this.step = 'request';
    return parsed.length;
  }

  /**
   * Why the login this client gave (or did not give) in its greeting no longer holds, when a
   * reload changed the port's login between the greeting and the request: a password revoked
   * stops working at once, as it does for HTTP clients. Else undefined, with the parameters
   * read again by the login now.
   */
  private loginRevoked(): string | undefined {
    const policy = this.server.options.loginFor(portOf(this.socket));
    if (!this.login) return policy.required ? 'request refused: a login is required since a reload after this client\'s greeting' : undefined;
    let verdict: LoginVerdict;
    try {
      verdict = policy.check(this.login.username, this.login.password);
    } catch (error) {
      return `request refused: its login no longer holds (${(error as Error).message})`;
    }
    if (!verdict.ok) return 'request refused: its login no longer holds (a reload changed it after this client\'s greeting)';
    this.login = { ...this.login, params: verdict.params };
    return undefined;
  }

  private connect(version: 4 | 5, target: Target, head: Buffer): number {
    const invalid = invalidTarget(target);
    if (invalid) return this.refuse(version === 5 ? socks5Reply(REPLY.generalFailure) : socks4Reply(SOCKS4_REJECTED), `SOCKS${version} ${invalid}`);
    clearTimeout(this.deadline);
    const { socket } = this;
    // Paused first: what the client sends from now on waits for the tunnel, in order.
    socket.pause();
    socket.removeListener('data', this.onData);
    socket.removeListener('end', destroy);
    // Opening the tunnel may take up to Upstream.ConnectTimeout, and the client is owed its
    // reply: a shorter Listen.IdleTimeout must not cut it first. The tunnel re-arms the timer.
    if (socket.timeout) socket.setTimeout(0);
    void this.server.connect(socket, version, target, head, this.login);
    return DONE;
  }

  /** Answers `reply` (or just closes) and logs why; a refusal the client caused is logged at info. */
  private refuse(reply: Buffer | undefined, reason: string, level: 'info' | 'debug' = 'info'): number {
    clearTimeout(this.deadline);
    this.server.options.log[level]({ port: portOf(this.socket), code: 'SOCKS_HANDSHAKE', reply: reply?.[1] }, reason);
    endWith(this.socket, reply);
    return DONE;
  }
}

function destroy(this: net.Socket): void {
  this.destroy();
}

function commandName(command: number): string {
  return COMMANDS[command] ?? `command ${command}`;
}
