import dns from 'node:dns/promises';
import net from 'node:net';
import { SocksClient, SocksClientError, type SocksProxy } from 'socks';
import type { buildConnector } from 'undici';
import { Agent } from './undici-parts.js';
import { poolOptions, type PoolTimeouts } from './pool-options.js';
import { UpstreamError } from '../errors.js';
import { connectTimeout, upstreamFailure } from './upstream-errors.js';
import { describeProxyPeer, socks5LoginProblem, type UpstreamEndpoint } from './upstream-url.js';
import { UpstreamReads } from './upstream-reads.js';
import { RetiredBeforeSent, type DispatchHandler, type HttpTarget, type OpenTunnel, type OutgoingRequest, type UpstreamRoute } from './route.js';

/**
 * A SOCKS4/4a/5/5h upstream: every connection, plain HTTP or tunnel, is a SOCKS CONNECT to the
 * target. Plain requests go through this session's own undici Agent whose connector is that
 * handshake. Names are resolved as curl resolves them for the same scheme: `socks5h://` and
 * `socks4a://` hand the name to the upstream (no DNS query leaves this host, and the exit's
 * own DNS picks the target's address); `socks5://` and `socks4://` resolve it here.
 */
export class SocksRoute implements UpstreamRoute {
  retired = false;
  readonly viaHttpProxy = false;
  private readonly agent: Agent;
  /** WebSocket upgrades' own Agent, made at the first (see dispatch). */
  private upgrades: Agent | undefined;
  private readonly peer: string;
  private readonly proxy: SocksProxy;
  private readonly remoteDns: boolean;
  /** A login no SOCKS5 handshake can carry (parameters made it too long): every connection fails at once. */
  private readonly loginProblem: string | undefined;

  constructor(
    readonly sessionId: string,
    endpoint: UpstreamEndpoint,
    readonly timeouts: PoolTimeouts,
  ) {
    this.peer = describeProxyPeer(endpoint);
    this.loginProblem = socks5LoginProblem(endpoint);
    const socks4 = endpoint.protocol === 'socks4:' || endpoint.protocol === 'socks4a:';
    this.remoteDns = endpoint.protocol === 'socks5h:' || endpoint.protocol === 'socks4a:';
    this.proxy = {
      host: endpoint.hostname,
      port: endpoint.port,
      type: socks4 ? 4 : 5,
      userId: endpoint.username || undefined,
      password: endpoint.password || undefined,
    };
    this.agent = this.makeAgent();
  }

  /** An undici Agent whose connections are SOCKS CONNECTs through the upstream (checked by `stillCarries`, if given). */
  private makeAgent(stillCarries?: () => boolean): Agent {
    const connect: buildConnector.connector = (options, callback) => {
      this.connect(options.hostname, Number(options.port) || 80, stillCarries).then(
        (socket) => callback(null, socket),
        (error: Error) => callback(error, null),
      );
    };
    return new Agent({ ...poolOptions(this.timeouts), connect });
  }

  describePeer(): string {
    return this.peer;
  }

  dispatch(target: HttpTarget, request: OutgoingRequest, handler: DispatchHandler): void {
    const origin = `http://${target.hostname.includes(':') ? `[${target.hostname}]` : target.hostname}:${target.port}`;
    // The login leaves in the connection's SOCKS handshake, before undici hands the connection
    // to a request. A WebSocket upgrade goes out once, on the port's session (README): its
    // connection's handshake asks at each write, and once the session is retired it fails
    // with RetiredBeforeSent, which sends the upgrade again on the new session, with nothing
    // sent on the old (not even a CONNECT to the target). Plain requests keep the session they
    // were sent for; an upgrade's connection is never reused anyway.
    const agent = request.upgrade === undefined ? this.agent : (this.upgrades ??= this.makeAgent(() => !this.retired));
    agent.dispatch({ origin, method: request.method, path: target.path, headers: request.headers, body: request.body, upgrade: request.upgrade }, handler);
  }

  async openTunnel(hostname: string, port: number, stillCarries?: () => boolean): Promise<OpenTunnel> {
    const socket = await this.connect(hostname, port, stillCarries);
    const reads = UpstreamReads.fromDataEvents(socket);
    // `socks` keeps the bytes that came with its reply and emits them a turn later
    // (setImmediate), then resumes the socket. A relay that resumed it first would pass what
    // was read after them ahead of them: wait for that turn, the reads holding it all in order.
    // Nobody else listens for errors meanwhile (`socks` has let go of the socket).
    let failure: Error | undefined;
    const onError = (error: Error): void => {
      failure = error;
    };
    socket.on('error', onError);
    await new Promise((resolve) => setImmediate(resolve));
    socket.removeListener('error', onError);
    if (failure) {
      socket.destroy();
      throw upstreamFailure(failure, this.peer);
    }
    return { reads };
  }

  close(): void {
    this.retired = true;
    this.agent.close().catch(() => undefined);
    this.upgrades?.close().catch(() => undefined);
  }

  destroy(): void {
    this.retired = true;
    this.agent.destroy().catch(() => undefined);
    this.upgrades?.destroy().catch(() => undefined);
  }

  /**
   * A socket through the upstream to hostname:port, or the UpstreamError to answer. With
   * `stillCarries`, RetiredBeforeSent when the session was retired before its login left.
   */
  private async connect(hostname: string, port: number, stillCarries?: () => boolean): Promise<net.Socket> {
    if (this.loginProblem) throw new UpstreamError('UPSTREAM_AUTH', `${this.loginProblem}, nothing was sent to ${this.peer}`);
    let retired = false;
    let answers: FirstBytes | undefined;
    try {
      const host = this.remoteDns || net.isIP(hostname) ? hostname : (await dns.lookup(hostname, { family: this.proxy.type === 4 ? 4 : 0 })).address;
      // One Upstream.ConnectTimeout for the connection and the handshake together.
      const deadline = performance.now() + this.timeouts.connectTimeoutMs;
      const existing = await this.connectToProxy();
      if (stillCarries) {
        // The login leaves only after the proxy answered the greeting, a round trip later:
        // every handshake write asks first, and none is made once the session is retired.
        existing.write = guardedWrite(existing, () => {
          retired ||= !stillCarries();
          return !retired;
        });
      }
      answers = new FirstBytes(existing);
      const { socket, remoteHost } = await SocksClient.createConnection({
        proxy: this.proxy,
        command: 'connect',
        destination: { host, port },
        timeout: Math.max(1, Math.ceil(deadline - performance.now())),
        existing_socket: existing,
      });
      answers.stop();
      // A SOCKS5 reply with an address type the library does not know is taken as a success
      // with its bytes left unread, which would reach the client as the tunnel's first bytes.
      if (this.proxy.type === 5 && remoteHost === undefined) {
        socket.destroy();
        throw new UpstreamError('UPSTREAM_PROTOCOL', `${this.peer} answered the SOCKS5 request with an unknown address type`);
      }
      // The handshake is over: writes go straight out again.
      if (stillCarries) delete (existing as Partial<net.Socket>).write;
      socket.setNoDelay(true);
      return socket;
    } catch (error) {
      if (retired) throw new RetiredBeforeSent();
      answers?.stop();
      throw this.notSocks(error, answers?.bytes) ?? upstreamFailure(error, this.peer);
    }
  }

  /**
   * The library reads a SOCKS5 final reply's code whatever its version byte (and a SOCKS4
   * reply's code whatever its first byte): garbage, or an HTTP answer, in place of the reply
   * was "a refusal of an unknown code". Judged on what the proxy sent: a reply that is not of
   * the version asked is the proxy speaking something else.
   */
  private notSocks(error: unknown, bytes: Buffer | undefined): UpstreamError | undefined {
    if (!(error instanceof SocksClientError) || !/rejected connection/i.test(error.message) || bytes === undefined) return undefined;
    // SOCKS5: the method choice (2 bytes), the login's status when a login was chosen (2), then the reply.
    const at = this.proxy.type === 4 ? 0 : bytes[1] === 0x02 ? 4 : 2;
    // SOCKS4's reply version is 0; some servers send 4, and the library takes their grants.
    const socks = this.proxy.type === 4 ? bytes[at] === 0x00 || bytes[at] === 0x04 : bytes[at] === 0x05;
    if (bytes.length <= at || socks) return undefined;
    const begins = [...bytes.subarray(at, at + 8)].map((byte) => byte.toString(16).padStart(2, '0')).join(' ');
    return new UpstreamError('UPSTREAM_PROTOCOL', `${this.peer} answered with something that is not SOCKS (its reply to the request begins ${begins})`, error);
  }

  /** A TCP connection to the SOCKS proxy, up (the handshake is then written on it), within Upstream.ConnectTimeout. */
  private connectToProxy(): Promise<net.Socket> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: this.proxy.host, port: this.proxy.port, noDelay: true });
      const fail = (error: Error): void => {
        socket.destroy();
        reject(error);
      };
      socket.setTimeout(this.timeouts.connectTimeoutMs, () => fail(connectTimeout(this.peer, this.timeouts.connectTimeoutMs)));
      socket.once('error', fail);
      socket.once('connect', () => {
        socket.setTimeout(0);
        socket.removeListener('error', fail);
        resolve(socket);
      });
    });
  }
}

const HANDSHAKE_BYTES = 64;

/** What a SOCKS proxy sent during the handshake: its first bytes, kept to judge a failed reply by. */
class FirstBytes {
  bytes = Buffer.alloc(0);
  private readonly onData = (chunk: Buffer): void => {
    if (this.bytes.length < HANDSHAKE_BYTES) this.bytes = Buffer.concat([this.bytes, chunk.subarray(0, HANDSHAKE_BYTES - this.bytes.length)]);
  };

  constructor(private readonly socket: net.Socket) {
    socket.on('data', this.onData);
  }

  stop(): void {
    this.socket.removeListener('data', this.onData);
  }
}

/** `socket.write` that first asks `allowed()`: refused, the socket is destroyed and nothing is written. */
function guardedWrite(socket: net.Socket, allowed: () => boolean): net.Socket['write'] {
  const write = socket.write;
  return ((...args: Parameters<net.Socket['write']>) => {
    if (allowed()) return write.apply(socket, args);
    socket.destroy(new RetiredBeforeSent());
    return false;
  }) as net.Socket['write'];
}
