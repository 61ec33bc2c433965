import http from 'node:http';
import https from 'node:https';
import { armConnectTimeout } from './connect-timeout.js';
import { connectTimeout, upstreamFailure, upstreamStatusFailure } from './upstream-errors.js';
import { basicProxyAuthorization, type UpstreamEndpoint } from './upstream-url.js';
import { KEEP_ALIVE_AGENT_OPTIONS, hostForUrl, type HttpTarget, type OpenTunnel, type UpstreamRoute } from './route.js';

/** An HTTP or HTTPS upstream proxy: absolute-URI requests for plain HTTP, CONNECT for tunnels. */
export class HttpProxyRoute implements UpstreamRoute {
  private readonly transport: typeof http | typeof https;
  private readonly agent: http.Agent;
  private readonly authorization: string | undefined;
  private readonly peer: string;

  constructor(
    readonly sessionId: string,
    private readonly endpoint: UpstreamEndpoint,
    private readonly connectTimeoutMs: number,
  ) {
    const secure = endpoint.protocol === 'https:';
    this.transport = secure ? https : http;
    this.agent = secure ? new https.Agent(KEEP_ALIVE_AGENT_OPTIONS) : new http.Agent(KEEP_ALIVE_AGENT_OPTIONS);
    this.authorization = basicProxyAuthorization(endpoint);
    this.peer = `upstream proxy ${hostForUrl(endpoint.hostname)}:${endpoint.port}`;
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

  openTunnel(hostname: string, port: number): Promise<OpenTunnel> {
    const authority = `${hostForUrl(hostname)}:${port}`;
    const headers: Record<string, string> = { host: authority };
    if (this.authorization) headers['proxy-authorization'] = this.authorization;
    return new Promise((resolve, reject) => {
      const request = this.transport.request({
        host: this.endpoint.hostname,
        port: this.endpoint.port,
        method: 'CONNECT',
        path: authority,
        headers,
        agent: false,
        setHost: false,
      });
      const timer = setTimeout(
        () => request.destroy(connectTimeout(this.peer, this.connectTimeoutMs)),
        this.connectTimeoutMs,
      );
      request.once('connect', (response, socket, head) => {
        clearTimeout(timer);
        if (response.statusCode === 200) {
          resolve({ socket, head });
          return;
        }
        socket.destroy();
        reject(upstreamStatusFailure(response.statusCode ?? 0, this.peer));
      });
      request.once('response', (response) => {
        clearTimeout(timer);
        response.resume();
        reject(upstreamStatusFailure(response.statusCode ?? 0, this.peer));
      });
      request.once('error', (error) => {
        clearTimeout(timer);
        reject(upstreamFailure(error, this.peer));
      });
      request.end();
    });
  }

  destroy(): void {
    this.agent.destroy();
  }
}
