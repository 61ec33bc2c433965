import http from 'node:http';
import { armConnectTimeout } from './connect-timeout.js';
import { connectTimeout, upstreamFailure } from './upstream-errors.js';
import { hostForUrl } from './upstream-url.js';
import { UpstreamReads } from './upstream-reads.js';
import { KEEP_ALIVE_AGENT_OPTIONS, requestToTarget, type HttpTarget, type OpenTunnel, type UpstreamRoute } from './route.js';

/** No upstream proxy: connect to the target itself. */
export class DirectRoute implements UpstreamRoute {
  readonly viaHttpProxy = false;
  private readonly agent = new http.Agent(KEEP_ALIVE_AGENT_OPTIONS);

  constructor(
    readonly sessionId: string,
    private readonly connectTimeoutMs: number,
  ) {}

  describePeer(target: { hostname: string; port: number }): string {
    return `target ${hostForUrl(target.hostname)}:${target.port}`;
  }

  request(target: HttpTarget, method: string, headers: string[]): http.ClientRequest {
    const request = requestToTarget(target, method, headers, this.agent);
    armConnectTimeout(request, this.connectTimeoutMs, this.describePeer(target));
    return request;
  }

  openTunnel(hostname: string, port: number): Promise<OpenTunnel> {
    const peer = this.describePeer({ hostname, port });
    return new Promise((resolve, reject) => {
      const reads = UpstreamReads.connect({ host: hostname, port, noDelay: true });
      const { socket } = reads;
      const timer = setTimeout(() => socket.destroy(connectTimeout(peer, this.connectTimeoutMs)), this.connectTimeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeListener('error', onError);
        resolve({ reads });
      });
      const onError = (error: Error): void => {
        clearTimeout(timer);
        reject(upstreamFailure(error, peer));
      };
      socket.once('error', onError);
    });
  }

  destroy(): void {
    this.agent.destroy();
  }
}
