import type http from 'node:http';
import { SocksClient } from 'socks';
import { SocksProxyAgent } from 'socks-proxy-agent';
import { upstreamFailure } from './upstream-errors.js';
import { describeProxyPeer, hostForUrl, type UpstreamEndpoint } from './upstream-url.js';
import { UpstreamReads } from './upstream-reads.js';
import { requestToTarget, type HttpTarget, type OpenTunnel, type UpstreamRoute } from './route.js';

/** A SOCKS4 or SOCKS5 upstream: every connection is a SOCKS CONNECT to the target. */
export class SocksRoute implements UpstreamRoute {
  readonly viaHttpProxy = false;
  private readonly agent: SocksProxyAgent;
  private readonly peer: string;

  constructor(
    readonly sessionId: string,
    private readonly endpoint: UpstreamEndpoint,
    private readonly connectTimeoutMs: number,
  ) {
    const url = new URL(`${endpoint.protocol}//${hostForUrl(endpoint.hostname)}:${endpoint.port}`);
    // The URL setters percent-encode; socks-proxy-agent decodes them back.
    url.username = endpoint.username;
    url.password = endpoint.password;
    this.agent = new SocksProxyAgent(url, { keepAlive: true, timeout: connectTimeoutMs });
    this.peer = describeProxyPeer(endpoint);
  }

  describePeer(): string {
    return this.peer;
  }

  request(target: HttpTarget, method: string, headers: string[]): http.ClientRequest {
    // No connect timer here: the agent hands the request a socket only once the SOCKS
    // handshake is done, and its own `timeout` bounds that.
    return requestToTarget(target, method, headers, this.agent);
  }

  async openTunnel(hostname: string, port: number): Promise<OpenTunnel> {
    try {
      const { socket } = await SocksClient.createConnection({
        proxy: {
          host: this.endpoint.hostname,
          port: this.endpoint.port,
          type: this.endpoint.protocol === 'socks4:' ? 4 : 5,
          userId: this.endpoint.username || undefined,
          password: this.endpoint.password || undefined,
        },
        command: 'connect',
        destination: { host: hostname, port },
        timeout: this.connectTimeoutMs,
      });
      socket.setNoDelay(true);
      return { reads: UpstreamReads.fromDataEvents(socket) };
    } catch (error) {
      throw upstreamFailure(error, this.peer);
    }
  }

  destroy(): void {
    this.agent.destroy();
  }
}
