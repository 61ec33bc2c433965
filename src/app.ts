import { ApiGateway } from './api/api-gateway.js';
import { createSessionApi } from './api/session-api.js';
import type { StickyportConfig } from './config/load.js';
import type { Logger } from './logging/logger.js';
import { ClientAuth } from './proxy/client-auth.js';
import { ListenerPool, type ListenerStatus } from './proxy/listener-pool.js';
import { PortRoutes } from './proxy/port-routes.js';
import { ProxyEngine } from './proxy/proxy-engine.js';
import { createSessionFactory } from './session/session.js';
import { SessionService } from './session/session-service.js';
import { createStore } from './store/create-store.js';
import type { SessionStore } from './store/session-store.js';
import { describeUpstream } from './upstream/upstream-url.js';
import { createRouteFactory } from './upstream/create-route.js';

export interface AppDeps {
  readonly log: Logger;
  /** A store to use instead of the configured one (tests share one between two apps). */
  readonly store?: SessionStore;
}

export interface App {
  readonly config: StickyportConfig;
  readonly sessions: SessionService;
  readonly listeners: ListenerPool;
  /** Binds every port, or throws LISTEN_FAILED having bound none. */
  start(): Promise<void>;
  /** Stops accepting, drains for `drainMs`, closes what is left and the store. Idempotent. */
  stop(drainMs?: number): Promise<void>;
  status(): ListenerStatus[];
}

/** The composition root: wires config into store, sessions, routes, engine and listeners. */
export async function createApp(config: StickyportConfig, deps: AppDeps): Promise<App> {
  const { log } = deps;
  const store = deps.store ?? (await createStore(config.store, log.child({ component: 'store' }), config.session));
  const sessions = new SessionService(store, createSessionFactory(config.session), log.child({ component: 'sessions' }));
  const clientAuth = config.auth.username ? new ClientAuth(config.auth.username, config.auth.password) : undefined;
  const api = config.sessionApi.enabled
    ? new ApiGateway(createSessionApi(sessions, { publicRead: config.sessionApi.publicRead }), {
        domain: config.sessionApi.domain,
        password: config.sessionApi.password,
        clientAuth,
        clientAuthRequired: config.auth.required,
      })
    : undefined;

  const ports: number[] = [];
  for (let port = config.listen.portStart; port <= config.listen.portEnd; port++) ports.push(port);

  // The engine and the listeners need each other; the pool is created first with a late hook.
  let engine: ProxyEngine | undefined;
  const listeners = new ListenerPool({
    host: config.listen.host,
    ports,
    idleTimeoutMs: config.listen.idleTimeoutMs,
    onConnection: (socket) => engine!.accept(socket),
  });
  const routes = new PortRoutes(
    sessions,
    createRouteFactory(config.upstream.template, {
      connectTimeoutMs: config.upstream.connectTimeoutMs,
      lifetimeMs: config.session.lifetimeMs,
    }),
    listeners,
    log.child({ component: 'routes' }),
  );
  engine = new ProxyEngine({
    routes,
    api,
    clientAuth: config.auth.required ? clientAuth : undefined,
    log: log.child({ component: 'proxy' }),
    responseTimeoutMs: config.upstream.responseTimeoutMs,
  });

  let stopping: Promise<void> | undefined;
  return {
    config,
    sessions,
    listeners,
    async start() {
      await listeners.start();
      log.info(
        {
          host: config.listen.host,
          ports: `${config.listen.portStart}-${config.listen.portEnd}`,
          upstream: config.upstream.template ? describeUpstream(config.upstream.template) : 'direct',
          store: store.kind,
          sessionApi: config.sessionApi.enabled ? config.sessionApi.domain || '(port itself)' : 'off',
          clientAuth: config.auth.required,
        },
        'stickyport listening',
      );
    },
    stop(drainMs = 2_000) {
      stopping ??= (async () => {
        await listeners.stop(drainMs);
        routes.close();
        await store.close();
      })();
      return stopping;
    },
    status: () => listeners.status(),
  };
}
