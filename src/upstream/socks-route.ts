import dns from 'node:dns/promises';
import net from 'node:net';
import { SocksClient, type SocksProxy } from 'socks';
import type { buildConnector } from 'undici';
import { Agent } from './undici-parts.js';
import { poolOptions, type PoolTimeouts } from './pool-options.js';
import { upstreamFailure } from './upstream-errors.js';
import { describeProxyPeer, type UpstreamEndpoint } from './upstream-url.js';
import { UpstreamReads } from './upstream-reads.js';
import type { DispatchHandler, HttpTarget, OpenTunnel, OutgoingRequest, UpstreamRoute } from './route.js';

/**
 * A SOCKS4/4a/5/5h upstream: every connection, plain HTTP or tunnel, is a SOCKS CONNECT to the
 * target. Plain requests go through this session's own undici Agent whose connector is that
 * handshake. Names are resolved as curl resolves them for the same scheme: `socks5h://` and
 * `socks4a://` hand the name to the upstream (no DNS query leaves this host, and the exit's
 * own DNS picks the target's address); `socks5://` and `socks4://` resolve it here.
 */
export class SocksRoute implements UpstreamRoute {
  readonly viaHttpProxy = false;
  private readonly agent: Agent;
  private readonly peer: string;
  private readonly proxy: SocksProxy;
  private readonly remoteDns: boolean;

  constructor(
    readonly sessionId: string,
    endpoint: UpstreamEndpoint,
    private readonly timeouts: PoolTimeouts,
  ) {
    this.peer = describeProxyPeer(endpoint);
    const socks4 = endpoint.protocol === 'socks4:' || endpoint.protocol === 'socks4a:';
    this.remoteDns = endpoint.protocol === 'socks5h:' || endpoint.protocol === 'socks4a:';
    this.proxy = {
      host: endpoint.hostname,
      port: endpoint.port,
      type: socks4 ? 4 : 5,
      userId: endpoint.username || undefined,
      password: endpoint.password || undefined,
    };
    const connect: buildConnector.connector = (options, callback) => {
      this.connect(options.hostname, Number(options.port) || 80).then(
        (socket) => callback(null, socket),
        (error: Error) => callback(error, null),
      );
    };
    this.agent = new Agent({ ...poolOptions(timeouts), connect });
  }

  describePeer(): string {
    return this.peer;
  }

  dispatch(target: HttpTarget, request: OutgoingRequest, handler: DispatchHandler): void {
    const origin = `http://${target.hostname.includes(':') ? `[${target.hostname}]` : target.hostname}:${target.port}`;
    this.agent.dispatch({ origin, method: request.method, path: target.path, headers: request.headers, body: request.body, upgrade: request.upgrade }, handler);
  }

  async openTunnel(hostname: string, port: number): Promise<OpenTunnel> {
    const socket = await this.connect(hostname, port);
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
    this.agent.close().catch(() => undefined);
  }

  destroy(): void {
    this.agent.destroy().catch(() => undefined);
  }

  /** A socket through the upstream to hostname:port, or the UpstreamError to answer. */
  private async connect(hostname: string, port: number): Promise<net.Socket> {
    try {
      const host = this.remoteDns || net.isIP(hostname) ? hostname : (await dns.lookup(hostname, { family: this.proxy.type === 4 ? 4 : 0 })).address;
      const { socket } = await SocksClient.createConnection({
        proxy: this.proxy,
        command: 'connect',
        destination: { host, port },
        timeout: this.timeouts.connectTimeoutMs,
      });
      socket.setNoDelay(true);
      return socket;
    } catch (error) {
      throw upstreamFailure(error, this.peer);
    }
  }
}
