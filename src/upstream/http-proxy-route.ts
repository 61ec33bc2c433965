import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import { armConnectTimeout } from './connect-timeout.js';
import { connectThroughProxy } from './connect-handshake.js';
import { basicProxyAuthorization, describeProxyPeer, hostForUrl, type UpstreamEndpoint } from './upstream-url.js';
import { UpstreamReads } from './upstream-reads.js';
import { KEEP_ALIVE_AGENT_OPTIONS, type HttpTarget, type OpenTunnel, type UpstreamRoute } from './route.js';

/** An HTTP or HTTPS upstream proxy: absolute-URI requests for plain HTTP, CONNECT for tunnels. */
export class HttpProxyRoute implements UpstreamRoute {
  readonly viaHttpProxy = true;
  private readonly secure: boolean;
  private readonly transport: typeof http | typeof https;
  private readonly agent: http.Agent;
  private readonly authorization: string | undefined;
  private readonly peer: string;

  constructor(
    readonly sessionId: string,
    private readonly endpoint: UpstreamEndpoint,
    private readonly connectTimeoutMs: number,
  ) {
    this.secure = endpoint.protocol === 'https:';
    this.transport = this.secure ? https : http;
    this.agent = this.secure ? new https.Agent(KEEP_ALIVE_AGENT_OPTIONS) : new http.Agent(KEEP_ALIVE_AGENT_OPTIONS);
    this.authorization = basicProxyAuthorization(endpoint);
    this.peer = describeProxyPeer(endpoint);
  }

  describePeer(): string {
    return this.peer;
  }

  request(target: HttpTarget, method: string, headers: string[]): http.ClientRequest {
    if (this.authorization) headers.push('Proxy-Authorization', this.authorization);
    const request = this.transport.request({
      host: this.endpoint.hostname,
      port: this.endpoint.port,
      method,
      path: target.absoluteUrl,
      headers,
      agent: this.agent,
      setHost: false,
    });
    armConnectTimeout(request, this.connectTimeoutMs, this.peer);
    return request;
  }

  async openTunnel(hostname: string, port: number): Promise<OpenTunnel> {
    const { hostname: host, port: proxyPort } = this.endpoint;
    const reads = this.secure
      ? UpstreamReads.fromDataEvents(tls.connect({ host, port: proxyPort, servername: net.isIP(host) ? undefined : host }))
      : UpstreamReads.connect({ host, port: proxyPort, noDelay: true });
    await connectThroughProxy(reads, {
      authority: `${hostForUrl(hostname)}:${port}`,
      proxyAuthorization: this.authorization,
      timeoutMs: this.connectTimeoutMs,
      peer: this.peer,
    });
    return { reads };
  }

  destroy(): void {
    this.agent.destroy();
  }
}
