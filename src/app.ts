import { ApiGateway } from './api/api-gateway.js';
import { createSessionApi } from './api/session-api.js';
import { ClientAuth } from './auth/client-auth.js';
import type { StickyportConfig } from './config/load.js';
import type { Logger } from './logging/logger.js';
import { Ports } from './ports/ports.js';
import { ConnectionLimits } from './proxy/connection-limits.js';
import { ListenerPool, type ListenerStatus } from './proxy/listener-pool.js';
import { ProxyEngine } from './proxy/proxy-engine.js';
import { createSessionFactory } from './session/session.js';
import { SessionService } from './session/session-service.js';
import { createStore } from './store/create-store.js';
import type { SessionStore } from './store/session-store.js';
import { describeUpstream } from './upstream/upstream-url.js';
import { createRouteFactory } from './upstream/create-route.js';
import { routeByFirstByte } from './socks/first-byte.js';
import { SocksApi } from './socks/socks-api.js';
import { SocksServer } from './socks/socks-server.js';

export interface AppDeps {
  readonly log: Logger;
  /** A store to use instead of the configured one (tests share one between two apps). */
  readonly store?: SessionStore;
}

export interface App {
  readonly config: StickyportConfig;
  readonly ports: Ports;
  readonly listeners: ListenerPool;
  readonly limits: ConnectionLimits;
  /** Binds every port, or throws LISTEN_FAILED having bound none. */
  start(): Promise<void>;
  /** Stops accepting, drains for `drainMs`, closes what is left and the store. Idempotent. */
  stop(drainMs?: number): Promise<void>;
  status(): ListenerStatus[];
}

/** The composition root: wires config into store, sessions, ports, engine and listeners. */
export async function createApp(config: StickyportConfig, deps: AppDeps): Promise<App> {
  const { log } = deps;
  const store = deps.store ?? (await createStore(config.store, log.child({ component: 'store' }), config.session));
  const sessions = new SessionService(store, createSessionFactory(config.session), log.child({ component: 'sessions' }));
  const ports = new Ports(
    {
      sessions,
      createRoute: createRouteFactory(config.upstream.template, {
        connectTimeoutMs: config.upstream.connectTimeoutMs,
        responseTimeoutMs: config.upstream.responseTimeoutMs,
        poolIdleTimeoutMs: config.upstream.poolIdleTimeoutMs,
        lifetimeMs: config.session.lifetimeMs,
        allowPrivateTargets: config.listen.allowPrivateTargets,
      }),
      log: log.child({ component: 'ports' }),
    },
    store,
  );
  const clientAuth = config.auth.username ? new ClientAuth(config.auth.username, config.auth.password) : undefined;
  const api = config.sessionApi.enabled
    ? new ApiGateway(createSessionApi(ports, { publicRead: config.sessionApi.publicRead }), {
        domain: config.sessionApi.domain,
        password: config.sessionApi.password,
        clientAuth,
        clientAuthRequired: config.auth.required,
      })
    : undefined;

  const portList: number[] = [];
  for (let port = config.listen.portStart; port <= config.listen.portEnd; port++) portList.push(port);

  const engine = new ProxyEngine({
    ports,
    api,
    clientAuth: config.auth.required ? clientAuth : undefined,
    log: log.child({ component: 'proxy' }),
    idleTimeoutMs: config.listen.idleTimeoutMs,
    headersTimeoutMs: config.listen.headersTimeoutMs,
  });
  const timeouts = { headersTimeoutMs: config.listen.headersTimeoutMs, idleTimeoutMs: config.listen.idleTimeoutMs };
  const socksApi = api ? new SocksApi(api, timeouts, log.child({ component: 'socks' })) : undefined;
  const socks = new SocksServer({
    ports,
    requiredLogin: config.auth.required ? clientAuth : undefined,
    loginConfigured: clientAuth !== undefined,
    api: socksApi,
    log: log.child({ component: 'socks' }),
    ...timeouts,
  });
  const limits = new ConnectionLimits(
    { perClient: config.listen.maxConnectionsPerClient, perPort: config.listen.maxConnectionsPerPort },
    log.child({ component: 'limits' }),
  );
  const listeners = new ListenerPool({
    host: config.listen.host,
    ports: portList,
    idleTimeoutMs: config.listen.idleTimeoutMs,
    limits,
    // Every port speaks HTTP, SOCKS5 and SOCKS4/4a, told apart by the first byte.
    onConnection: (socket) =>
      routeByFirstByte(
        socket,
        {
          http: (client, first) => engine.accept(client, first),
          socks: (client, first) => socks.accept(client, first),
          silent: (client) => engine.answerSilent(client),
        },
        timeouts,
      ),
  });

  let stopping: Promise<void> | undefined;
  return {
    config,
    ports,
    listeners,
    limits,
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
          maxConnectionsPerClient: limits.perClient || 'unlimited',
          maxConnectionsPerPort: limits.perPort || 'unlimited',
        },
        'stickyport listening',
      );
    },
    stop(drainMs = 2_000) {
      stopping ??= (async () => {
        engine.drain.begin();
        await listeners.stop(drainMs, () => engine.drain.end());
        ports.destroy();
        socksApi?.close();
        limits.close();
        await store.close();
      })();
      return stopping;
    },
    status: () => listeners.status(),
  };
}
