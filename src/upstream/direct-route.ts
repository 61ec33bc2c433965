import { Agent } from './undici-parts.js';
import { connectTimeout, upstreamFailure } from './upstream-errors.js';
import { poolOptions, type PoolTimeouts } from './pool-options.js';
import type { TargetGuard } from './target-guard.js';
import { hostForUrl } from './upstream-url.js';
import { UpstreamReads } from './upstream-reads.js';
import type { DispatchHandler, HttpTarget, OpenTunnel, OutgoingRequest, UpstreamRoute } from './route.js';

/**
 * No upstream proxy: connect to the target itself, through this session's own undici Agent
 * (a keep-alive pool per target). With a guard, private and loopback targets are refused.
 */
export class DirectRoute implements UpstreamRoute {
  retired = false;
  readonly viaHttpProxy = false;
  private readonly agent: Agent;

  constructor(
    readonly sessionId: string,
    readonly timeouts: PoolTimeouts,
    private readonly guard: TargetGuard | undefined,
  ) {
    const options = poolOptions(timeouts);
    this.agent = new Agent(guard ? { ...options, connect: { ...options.connect, lookup: guard.lookup } } : options);
  }

  describePeer(target: { hostname: string; port: number }): string {
    return `target ${hostForUrl(target.hostname)}:${target.port}`;
  }

  dispatch(target: HttpTarget, request: OutgoingRequest, handler: DispatchHandler): void {
    const forbidden = this.guard?.check(target.hostname);
    if (forbidden) {
      handler.onError!(forbidden);
      return;
    }
    const origin = `http://${hostForUrl(target.hostname)}:${target.port}`;
    this.agent.dispatch({ origin, method: request.method, path: target.path, headers: request.headers, body: request.body, upgrade: request.upgrade }, handler);
  }

  openTunnel(hostname: string, port: number): Promise<OpenTunnel> {
    const peer = this.describePeer({ hostname, port });
    const forbidden = this.guard?.check(hostname);
    if (forbidden) return Promise.reject(forbidden);
    return new Promise((resolve, reject) => {
      const reads = UpstreamReads.connect({ host: hostname, port, noDelay: true, lookup: this.guard?.lookup });
      const { socket } = reads;
      const { connectTimeoutMs } = this.timeouts;
      const timer = setTimeout(() => socket.destroy(connectTimeout(peer, connectTimeoutMs)), connectTimeoutMs);
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

  close(): void {
    this.retired = true;
    this.agent.close().catch(() => undefined);
  }

  destroy(): void {
    this.retired = true;
    this.agent.destroy().catch(() => undefined);
  }
}
