import type { Session } from '../session/session.js';
import { DirectRoute } from './direct-route.js';
import { HttpProxyRoute } from './http-proxy-route.js';
import type { UpstreamRoute } from './route.js';
import { SocksRoute } from './socks-route.js';
import { renderUpstream, type UpstreamTemplate } from './upstream-url.js';

export type RouteFactory = (session: Session) => UpstreamRoute;

export function createRouteFactory(
  template: UpstreamTemplate | undefined,
  options: { connectTimeoutMs: number; lifetimeMs: number },
): RouteFactory {
  const { connectTimeoutMs } = options;
  const lifetime = Math.round(options.lifetimeMs / 60_000);
  if (!template) return (session) => new DirectRoute(session.id, connectTimeoutMs);
  return (session) => {
    const endpoint = renderUpstream(template, { session: session.id, port: session.port, lifetime });
    return endpoint.protocol === 'socks4:' || endpoint.protocol === 'socks5:'
      ? new SocksRoute(session.id, endpoint, connectTimeoutMs)
      : new HttpProxyRoute(session.id, endpoint, connectTimeoutMs);
  };
}
