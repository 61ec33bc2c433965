import type { SessionParams } from '../session/parameters.js';
import type { Session } from '../session/session.js';
import { DirectRoute } from './direct-route.js';
import { HttpProxyRoute } from './http-proxy-route.js';
import type { PoolTimeouts } from './pool-options.js';
import type { UpstreamRoute } from './route.js';
import { SocksRoute } from './socks-route.js';
import type { TargetGuard } from './target-guard.js';
import type { UpstreamMember } from './upstream-member.js';

export interface RouteOptions extends PoolTimeouts {
  /** The mapping's session lifetime, for `{lifetime}` and presets' lifetime parameters. */
  readonly lifetimeMs: number;
}

/** A session's route through `member`, rendered with its id and parameters. */
export function memberRoute(member: UpstreamMember, session: Session, params: SessionParams, options: RouteOptions): UpstreamRoute {
  const endpoint = member.render({ session: session.id, port: session.port, lifetimeMs: options.lifetimeMs, params });
  return endpoint.protocol === 'http:' || endpoint.protocol === 'https:'
    ? new HttpProxyRoute(session.id, endpoint, options)
    : new SocksRoute(session.id, endpoint, options);
}

/** No upstream: to the target itself; `guard` (Listen.AllowPrivateTargets false) refuses private targets. */
export function directRoute(sessionId: string, options: PoolTimeouts, guard: TargetGuard | undefined): UpstreamRoute {
  return new DirectRoute(sessionId, options, guard);
}
