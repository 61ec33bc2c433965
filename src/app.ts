import type { AdminServer } from './admin/admin-server.js';
import { createAdmin } from './admin/create-admin.js';
import { ApiGateway } from './api/api-gateway.js';
import { createSessionApi } from './api/session-api.js';
import { ClientAuth } from './auth/client-auth.js';
import type { StickyportConfig } from './config/load.js';
import { packageVersion } from './cli/version.js';
import { setLogLevel, type Logger } from './logging/logger.js';
import { Mappings } from './observe/mappings.js';
import { Observability } from './observe/observability.js';
import { Ports } from './ports/ports.js';
import { ConnectionLimits } from './proxy/connection-limits.js';
import { ListenerPool, type ListenerStatus } from './proxy/listener-pool.js';
import { ProxyEngine } from './proxy/proxy-engine.js';
import { LiveSettings } from './reload/live-settings.js';
import { Reloader, type ReloadOutcome } from './reload/reloader.js';
import { SessionService } from './session/session-service.js';
import { createStore } from './store/create-store.js';
import type { SessionStore } from './store/session-store.js';
import { describeUpstream, hostForUrl } from './upstream/upstream-url.js';
import { routeByFirstByte } from './socks/first-byte.js';
import { SocksApi } from './socks/socks-api.js';
import { SocksServer } from './socks/socks-server.js';

export interface AppDeps {
  readonly log: Logger;
  /** A store to use instead of the configured one (tests share one between two apps). */
  readonly store?: SessionStore;
  /**
   * Reads the configuration again with the layers and flags start-up used (SIGHUP, POST
   * /api/reload); throws ConfigError. Without it a reload is refused.
   */
  readonly loadConfig?: () => StickyportConfig;
}

export interface App {
  /** The running configuration: a reload replaces what it applies. */
  readonly config: StickyportConfig;
  readonly ports: Ports;
  readonly listeners: ListenerPool;
  readonly limits: ConnectionLimits;
  /** The admin server, when Admin.Enabled. */
  readonly admin: AdminServer | undefined;
  /** Re-reads the configuration and applies what it can (src/reload/); `by` says who asked. */
  reload(by: string): Promise<ReloadOutcome>;
  /** Binds every port, or throws LISTEN_FAILED having bound none. */
  start(): Promise<void>;
  /** Stops accepting, drains for `drainMs`, closes what is left and the store. Idempotent. */
  stop(drainMs?: number): Promise<void>;
  status(): ListenerStatus[];
}

/** The composition root: wires config into store, sessions, ports, engine and listeners. */
export async function createApp(config: StickyportConfig, deps: AppDeps): Promise<App> {
  const { log } = deps;
  let running = config;
  const version = runningVersion();
  const mappings = new Mappings(config);
  const backend = deps.store ?? (await createStore(config.store, log.child({ component: 'store' }), config.session));
  // The request log, and with the admin server statistics, metrics and a counting store.
  const observers: Observability = new Observability(config, log, mappings, backend, {
    version,
    // Read at scrape time only, once the parts below exist.
    sources: {
      ports: () => mappings.ports(),
      listening: (port) => listeners.isListening(port),
      connections: (port) => listeners.connectionCount(port),
      openTunnels: (port): number => ports.peek(port)?.openTunnels ?? 0,
      hasSession: (port) => ports.peek(port)?.session !== undefined,
      refusedConnections: () => limits.refused,
    },
  });
  const { store } = observers;
  // New sessions are made with what the last reload applied.
  const live = new LiveSettings(config);
  const sessions = new SessionService(store, live.createSession, log.child({ component: 'sessions' }));
  sessions.onChange = observers.sessionChanged;
  const ports = new Ports({ sessions, createRoute: live.createRoute, log: log.child({ component: 'ports' }) }, store);
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
    observe: observers.observe,
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
    observe: observers.observe,
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

  const reloader = new Reloader({
    log: log.child({ component: 'reload' }),
    load: deps.loadConfig,
    running: () => running,
    reloaded: (applied) => observers.admin?.metrics.reloaded(applied),
    // Ports first, all or nothing; then what new sessions get; then what applies at once.
    apply: async (plan) => {
      const changed = await listeners.reconcile(plan.ports);
      for (const port of changed.removed) {
        ports.release(port);
        observers.forget(port);
      }
      live.apply(plan.running);
      setLogLevel(log, plan.running.logLevel);
      observers.configure(plan.running);
      running = plan.running;
      mappings.update(running);
      return changed;
    },
  });
  const reload = (by: string): Promise<ReloadOutcome> => reloader.reload(by);

  let accepting = false;
  const admin = observers.admin
    ? createAdmin(config, {
        log: log.child({ component: 'admin' }),
        version,
        observers: observers.admin,
        ports,
        listeners,
        mappings,
        running: () => running,
        accepting: () => accepting,
        reload,
      })
    : undefined;

  let stopping: Promise<void> | undefined;
  return {
    get config() {
      return running;
    },
    ports,
    listeners,
    limits,
    admin,
    reload,
    async start() {
      await listeners.start();
      await admin?.start();
      accepting = true;
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
          admin: admin ? `http://${hostForUrl(config.admin.host)}:${admin.address.port}/` : 'off',
        },
        'stickyport listening',
      );
    },
    stop(drainMs = 2_000) {
      stopping ??= (async () => {
        accepting = false;
        engine.drain.begin();
        await listeners.stop(drainMs, () => engine.drain.end());
        await admin?.close();
        observers.close();
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

/** The package's version, or 'unknown' for a dist/ copied away from its package.json (A/B benches). */
function runningVersion(): string {
  try {
    return packageVersion();
  } catch {
    return 'unknown';
  }
}
