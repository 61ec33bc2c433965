import type net from 'node:net';
import type { Logger } from '../logging/logger.js';
import { isLive, type Session } from '../session/session.js';
import type { SessionService } from '../session/session-service.js';
import type { RouteFactory } from '../upstream/create-route.js';
import type { UpstreamRoute } from '../upstream/route.js';
import type { ListenerPool } from './listener-pool.js';

interface PortRoute {
  readonly session: Session;
  readonly route: UpstreamRoute;
  timer?: NodeJS.Timeout;
}

// setTimeout overflows past 2^31-1 ms (~24.8 days); longer lifetimes re-arm.
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Maps each port to the upstream route of its current session. When a port's session changes
 * (expiry, reset, renew, or another instance's change seen in a shared store), the old route's
 * pooled upstream connections are destroyed and the port's client connections that carried the
 * old session are closed: nothing keeps flowing on the old identity.
 */
export class PortRoutes {
  private readonly routes = new Map<number, PortRoute>();

  constructor(
    private readonly sessions: SessionService,
    private readonly createRoute: RouteFactory,
    private readonly listeners: ListenerPool,
    private readonly log: Logger,
  ) {
    sessions.onChange((port, initiator) => this.retire(port, 'changed', initiator as net.Socket | undefined));
  }

  /** The route for a request arriving on `socket` at `port`; binds the socket to its session. */
  async routeFor(port: number, socket: net.Socket): Promise<UpstreamRoute> {
    const cached = this.routes.get(port);
    // A store only this process writes cannot change behind our back: skip the round trip.
    if (cached && !this.sessions.store.shared && isLive(cached.session)) {
      this.listeners.bindSession(socket, cached.session.id);
      return cached.route;
    }
    const session = await this.sessions.current(port);
    let entry = this.routes.get(port);
    if (entry?.session.id !== session.id) {
      if (entry) this.retire(port, 'replaced', socket);
      entry = this.install(session);
    }
    this.listeners.bindSession(socket, session.id);
    return entry.route;
  }

  /** Drops the port's route; `keep` is the connection that asked, left open. */
  retire(port: number, reason: string, keep?: net.Socket): void {
    const entry = this.routes.get(port);
    if (!entry) return;
    this.routes.delete(port);
    clearTimeout(entry.timer);
    entry.route.destroy();
    const closed = this.listeners.closeBoundTo(port, entry.session.id, keep);
    this.log.debug({ port, sessionId: entry.session.id, reason, closedConnections: closed }, 'route retired');
  }

  close(): void {
    for (const port of [...this.routes.keys()]) this.retire(port, 'shutdown');
  }

  private install(session: Session): PortRoute {
    const entry: PortRoute = { session, route: this.createRoute(session) };
    this.routes.set(session.port, entry);
    this.armExpiry(entry);
    return entry;
  }

  private armExpiry(entry: PortRoute): void {
    if (entry.session.expiresAt === null) return;
    const delay = entry.session.expiresAt - Date.now();
    entry.timer = setTimeout(() => {
      if (this.routes.get(entry.session.port) !== entry) return;
      if (delay > MAX_TIMER_MS) {
        this.armExpiry(entry);
        return;
      }
      this.log.info({ port: entry.session.port, sessionId: entry.session.id }, 'session expired');
      this.retire(entry.session.port, 'expired');
    }, Math.max(0, Math.min(delay, MAX_TIMER_MS)));
    entry.timer.unref();
  }
}
