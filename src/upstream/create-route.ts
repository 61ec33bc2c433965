import type { Session } from '../session/session.js';
import { DirectRoute } from './direct-route.js';
import { HttpProxyRoute } from './http-proxy-route.js';
import type { PoolTimeouts } from './pool-options.js';
import type { UpstreamRoute } from './route.js';
import { SocksRoute } from './socks-route.js';
import { TargetGuard } from './target-guard.js';
import { renderUpstream, type UpstreamTemplate } from './upstream-url.js';

export type RouteFactory = (session: Session) => UpstreamRoute;

export interface RouteOptions extends PoolTimeouts {
  readonly lifetimeMs: number;
  /** Listen.AllowPrivateTargets, resolved: false puts a TargetGuard on direct connections. */
  readonly allowPrivateTargets: boolean;
}

/** Builds each session's route: direct, or through the upstream rendered with its id. */
export function createRouteFactory(template: UpstreamTemplate | undefined, options: RouteOptions): RouteFactory {
  const lifetime = Math.round(options.lifetimeMs / 60_000);
  if (!template) {
    const guard = options.allowPrivateTargets ? undefined : new TargetGuard();
    return (session) => new DirectRoute(session.id, options, guard);
  }
  return (session) => {
    const endpoint = renderUpstream(template, { session: session.id, port: session.port, lifetime });
    return endpoint.protocol === 'http:' || endpoint.protocol === 'https:'
      ? new HttpProxyRoute(session.id, endpoint, options)
      : new SocksRoute(session.id, endpoint, options);
  };
}
