import net from 'node:net';
import tls from 'node:tls';
import { Pool } from './undici-parts.js';
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
  readonly viaHttpProxy = true;
  private readonly pool: Pool;
  private readonly authorization: string | undefined;
  private readonly peer: string;

  constructor(
    readonly sessionId: string,
    private readonly endpoint: UpstreamEndpoint,
    readonly timeouts: PoolTimeouts,
  ) {
    const origin = `${endpoint.protocol}//${hostForUrl(endpoint.hostname)}:${endpoint.port}`;
    this.pool = new Pool(origin, poolOptions(timeouts));
    this.authorization = basicProxyAuthorization(endpoint);
    this.peer = describeProxyPeer(endpoint);
  }

  describePeer(): string {
    return this.peer;
  }

  dispatch(target: HttpTarget, request: OutgoingRequest, handler: DispatchHandler): void {
    const { headers } = request;
    if (this.authorization) headers.push('proxy-authorization', this.authorization);
    this.pool.dispatch({ method: request.method, path: target.absoluteUrl, headers, body: request.body, upgrade: request.upgrade }, handler);
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
    this.pool.close().catch(() => undefined);
  }

  destroy(): void {
    this.pool.destroy().catch(() => undefined);
  }
}
