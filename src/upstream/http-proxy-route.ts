import net from 'node:net';
import tls from 'node:tls';
import type { buildConnector as Connector, Dispatcher } from 'undici';
import { buildConnector, Pool } from './undici-parts.js';
import { connectThroughProxy } from './connect-handshake.js';
import { poolOptions, type PoolTimeouts } from './pool-options.js';
import { basicProxyAuthorization, describeProxyPeer, hostForUrl, type UpstreamEndpoint } from './upstream-url.js';
import { UpstreamReads } from './upstream-reads.js';
import type { DispatchHandler, HttpTarget, OpenTunnel, OutgoingRequest, UpstreamRoute } from './route.js';

/**
 * An HTTP or HTTPS upstream proxy: plain requests go on this session's own undici Pool to the
 * proxy, in absolute form (undici sends an absolute-URI path as it is); tunnels are a CONNECT
 * handshake on a socket of their own.
 */
export class HttpProxyRoute implements UpstreamRoute {
  retired = false;
  readonly viaHttpProxy = true;
  private readonly pool: Pool;
  private readonly authorization: string | undefined;
  private readonly peer: string;
  /** For an https:// upstream, the name every request gives undici as its TLS server name. */
  private readonly servername: string | undefined;

  constructor(
    readonly sessionId: string,
    private readonly endpoint: UpstreamEndpoint,
    readonly timeouts: PoolTimeouts,
  ) {
    const origin = `${endpoint.protocol}//${hostForUrl(endpoint.hostname)}:${endpoint.port}`;
    const options = poolOptions(timeouts);
    if (endpoint.protocol === 'https:') {
      // undici names the TLS server after each request's Host header, the target's name: the
      // provider's certificate would be checked against the target, and a pooled connection
      // dropped at every change of target host. Every request names the provider instead (a
      // constant, so connections are kept), and the connector sends SNI only for a host name.
      this.servername = endpoint.hostname;
      const sni = net.isIP(endpoint.hostname) ? undefined : endpoint.hostname;
      const tlsConnect = buildConnector({ ...(options.connect as Connector.BuildOptions), servername: sni });
      options.connect = (connectOptions, callback) => tlsConnect({ ...connectOptions, servername: sni }, callback);
    }
    this.pool = new Pool(origin, options);
    this.authorization = basicProxyAuthorization(endpoint);
    this.peer = describeProxyPeer(endpoint);
  }

  describePeer(): string {
    return this.peer;
  }

  dispatch(target: HttpTarget, request: OutgoingRequest, handler: DispatchHandler): void {
    const { headers } = request;
    // First, not last: an upstream that keeps only so many header fields (Node keeps 2 000)
    // would drop the login of a request carrying thousands, and answer 407.
    if (this.authorization) headers.unshift('proxy-authorization', this.authorization);
    // `servername` is read by undici's Request, though its types do not list it.
    const options: Dispatcher.DispatchOptions & { servername?: string } = { method: request.method, path: target.absoluteUrl, headers, body: request.body, upgrade: request.upgrade, servername: this.servername };
    this.pool.dispatch(options, handler);
  }

  async openTunnel(hostname: string, port: number, stillCarries?: () => boolean): Promise<OpenTunnel> {
    const { hostname: host, port: proxyPort } = this.endpoint;
    const secure = this.endpoint.protocol === 'https:';
    const reads = secure
      ? UpstreamReads.fromDataEvents(tls.connect({ host, port: proxyPort, servername: net.isIP(host) ? undefined : host }))
      : UpstreamReads.connect({ host, port: proxyPort, noDelay: true });
    await connectThroughProxy(reads, {
      authority: `${hostForUrl(hostname)}:${port}`,
      proxyAuthorization: this.authorization,
      timeoutMs: this.timeouts.connectTimeoutMs,
      peer: this.peer,
      // Written once the connection is up (TLS: once its handshake is done), so the session is
      // checked at the moment its login leaves.
      readyEvent: secure ? 'secureConnect' : 'connect',
      stillCarries,
    });
    return { reads };
  }

  close(): void {
    this.retired = true;
    this.pool.close().catch(() => undefined);
  }

  destroy(): void {
    this.retired = true;
    this.pool.destroy().catch(() => undefined);
  }
}
