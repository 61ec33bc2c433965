import type { StickyportConfig } from '../config/load.js';
import { createSessionFactory, type SessionFactory } from '../session/session.js';
import { createRouteFactory, type RouteFactory } from '../upstream/create-route.js';

/**
 * What new sessions are made with: their lifetime and id (the session factory) and their way
 * out (the route factory). The ports and the session service hold the two functions given here
 * for good; a reload swaps what they call, so sessions created afterwards get the new upstream
 * and lifetime while running ones keep theirs.
 */
export class LiveSettings {
  private routeFactory: RouteFactory;
  private sessionFactory: SessionFactory;

  constructor(config: StickyportConfig) {
    this.routeFactory = LiveSettings.routesFor(config);
    this.sessionFactory = createSessionFactory(config.session);
  }

  readonly createRoute: RouteFactory = (session) => this.routeFactory(session);
  readonly createSession: SessionFactory = (port) => this.sessionFactory(port);

  apply(config: StickyportConfig): void {
    this.routeFactory = LiveSettings.routesFor(config);
    this.sessionFactory = createSessionFactory(config.session);
  }

  private static routesFor(config: StickyportConfig): RouteFactory {
    return createRouteFactory(config.upstream.template, {
      connectTimeoutMs: config.upstream.connectTimeoutMs,
      responseTimeoutMs: config.upstream.responseTimeoutMs,
      poolIdleTimeoutMs: config.upstream.poolIdleTimeoutMs,
      lifetimeMs: config.session.lifetimeMs,
      allowPrivateTargets: config.listen.allowPrivateTargets,
    });
  }
}
