import type { AdminServer } from './admin/admin-server.js';
import { ApiGateway } from './api/api-gateway.js';
import { createSessionApi } from './api/session-api.js';
import type { MappingConfig, StickyportConfig } from './config/load.js';
import { packageVersion } from './cli/version.js';
import { ExitIdentity } from './identity/exit-identity.js';
import { IdentityEvents } from './identity/identity-events.js';
import { setLogLevel, type Logger } from './logging/logger.js';
import { Mappings } from './observe/mappings.js';
import { Observability, loadMetricsKit } from './observe/observability.js';
import { Mapping } from './ports/mapping.js';
import { Ports } from './ports/ports.js';
import { ConnectionLimits } from './proxy/connection-limits.js';
import { ListenerPool, type ListenEndpoint, type ListenerStatus } from './proxy/listener-pool.js';
import { ProxyEngine } from './proxy/proxy-engine.js';
import { settingsText } from './reload/reload-plan.js';
import { Reloader, type ReloadOutcome } from './reload/reloader.js';
import type { SessionIdRule } from './session/session.js';
import { SessionService } from './session/session-service.js';
import { createStore } from './store/create-store.js';
import type { SessionStore } from './store/session-store.js';
import { hostForUrl } from './upstream/upstream-url.js';
import { routeByFirstByte } from './socks/first-byte.js';
import { SocksApi } from './socks/socks-api.js';
import { SocksServer } from './socks/socks-server.js';

export interface AppDeps {
  readonly log: Logger;
  /** A store to use instead of the configured one (tests share one between two apps). */
  readonly store?: SessionStore;
  /**
   * Reads the configuration again with the layers and flags start-up used (SIGHUP, POST
   * /api/reload), given the running one; throws ConfigError. Without it a reload is refused.
   */
  readonly loadConfig?: (running: StickyportConfig) => StickyportConfig;
  /** Extra TLS options for https:// echo URLs (tests trust their own CA with it). */
  readonly tls?: import('node:tls').ConnectionOptions;
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
  /** Counters and a hook for exit identity checks, drift, keep-alive and rule rotations (metrics subscribe). */
  readonly events: IdentityEvents;
  readonly identity: ExitIdentity;
  /** Binds every port, or throws LISTEN_FAILED having bound none. */
  start(): Promise<void>;
  /** Stops accepting, drains for `drainMs`, closes what is left and the store. Idempotent. */
  stop(drainMs?: number): Promise<void>;
  status(): ListenerStatus[];
}

/** The composition root: wires config into store, sessions, mappings, ports, engine and listeners. */
export async function createApp(config: StickyportConfig, deps: AppDeps): Promise<App> {
  const { log } = deps;
  let running = config;
  const version = runningVersion();
  const events = new IdentityEvents();
  const rotationLog = log.child({ component: 'rotation' });
  const makeMapping = (mapping: MappingConfig, settings: StickyportConfig): Mapping =>
    new Mapping(mapping, {
      idLength: settings.session.idLength,
      idAlphabet: settings.session.idAlphabet,
      timeouts: {
        connectTimeoutMs: settings.upstream.connectTimeoutMs,
        responseTimeoutMs: settings.upstream.responseTimeoutMs,
        poolIdleTimeoutMs: settings.upstream.poolIdleTimeoutMs,
      },
      cooldown: settings.upstream.cooldown,
      log: log.child({ component: 'upstream' }),
      rotation: { events, log: rotationLog, bodyScanBytes: settings.rotation.bodyScanBytes },
    });
  // The mappings served now: a reload replaces the list (and the ports take it up).
  let served = config.mappings.map((mapping) => makeMapping(mapping, config));
  // What a stored session may hold, per port: the pool members and parameters of its mapping,
  // and an expiry no further out than its lifetime allows.
  // (Asked already while the store opens, before the ports exist.)
  const storedRule: SessionIdRule = {
    idLength: config.session.idLength,
    idAlphabet: config.session.idAlphabet,
    portRule: (port) => {
      const mapping = served.find((candidate) => candidate.owns(port));
      return mapping && { upstreamKeys: mapping.pool?.keys, parameters: mapping.declared, lifetimeMs: mapping.config.lifetimeMs };
    },
  };
  const views = new Mappings(config);
  const backend = deps.store ?? (await createStore(config.store, log.child({ component: 'store' }), storedRule));
  // The request log, and with the admin server statistics, metrics and a counting store.
  const observers: Observability = new Observability(config, log, views, backend, {
    version,
    kit: await loadMetricsKit(config),
    // Read at scrape time only, once the parts below exist.
    sources: {
      ports: () => views.ports(),
      listening: (port) => listeners.isListening(port),
      connections: (port) => listeners.connectionCount(port),
      openTunnels: (port): number => ports.peek(port)?.openTunnels ?? 0,
      hasSession: (port) => ports.peek(port)?.session !== undefined,
      refusedConnections: () => limits.refused,
    },
  });
  const { store } = observers;
  if (observers.admin) events.on(observers.admin.metrics.identityEvent);
  const sessions = new SessionService(store, log.child({ component: 'sessions' }));
  sessions.onChange = observers.sessionChanged;
  const identity = new ExitIdentity(config.identity, { sessions, events, log: log.child({ component: 'identity' }), tls: deps.tls });
  // Per-request hooks only when something listens: no cost on the request path otherwise.
  const watching = identity.active
    ? { installed: identity.installed.bind(identity), used: identity.used.bind(identity) }
    : {};
  const ports: Ports = new Ports({ sessions, log: log.child({ component: 'ports' }), ...watching }, served, store);
  const api = config.sessionApi.enabled
    ? new ApiGateway(createSessionApi(ports, { publicRead: config.sessionApi.publicRead, identity, log: log.child({ component: 'api' }) }), {
        domain: config.sessionApi.domain,
        password: config.sessionApi.password,
        loginFor: (port) => ports.mappingOf(port).login,
        closeDeadlineMs: config.listen.idleTimeoutMs,
      })
    : undefined;

  // While the API is off, its domain is never proxied (a call meant for it would reach the provider).
  const apiOffDomain = !config.sessionApi.enabled && config.sessionApi.domain !== '' ? config.sessionApi.domain : undefined;
  const engine = new ProxyEngine({
    ports,
    api,
    log: log.child({ component: 'proxy' }),
    idleTimeoutMs: config.listen.idleTimeoutMs,
    headersTimeoutMs: config.listen.headersTimeoutMs,
    observe: observers.observe,
    exposeSessionHeader: config.sessionApi.exposeSessionHeader,
    sessionControl: config.sessionApi.enabled ? { needsLogin: config.sessionApi.password !== '' } : undefined,
    apiOffDomain,
  });
  const timeouts = { headersTimeoutMs: config.listen.headersTimeoutMs, idleTimeoutMs: config.listen.idleTimeoutMs };
  const socksApi = api ? new SocksApi(api, timeouts, log.child({ component: 'socks' }), engine.drain) : undefined;
  const socks = new SocksServer({
    ports,
    loginFor: (port) => ports.mappingOf(port).login,
    api: socksApi,
    apiOffDomain,
    log: log.child({ component: 'socks' }),
    drain: engine.drain,
    ...timeouts,
    observe: observers.observe,
  });
  const endpoints = endpointsOf(config);
  const limits = new ConnectionLimits(
    {
      perClient: config.listen.maxConnectionsPerClient,
      perPort: config.listen.maxConnectionsPerPort,
      listening: endpoints.length + (config.admin.enabled ? 1 : 0),
    },
    log.child({ component: 'limits' }),
  );
  const listeners = new ListenerPool({
    endpoints,
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
      const changed = await listeners.reconcile(plan.endpoints);
      for (const port of changed.removed) {
        ports.release(port);
        observers.forget(port);
      }
      // A mapping whose settings did not change keeps its object (its pool, its counts).
      const before = ports.all;
      const next = plan.running.mappings.map((mapping) => {
        const same = before.find((old) => settingsText(old.config) === settingsText(mapping));
        return same ?? makeMapping(mapping, plan.running);
      });
      ports.replaceMappings(next);
      served = next;
      setLogLevel(log, plan.running.logLevel);
      observers.configure(plan.running);
      running = plan.running;
      views.update(running);
      return changed;
    },
  });
  const reload = (by: string): Promise<ReloadOutcome> => reloader.reload(by);

  let accepting = false;
  // Loaded only when on, like the metrics.
  const admin = observers.admin
    ? (await import('./admin/create-admin.js')).createAdmin(config, {
        log: log.child({ component: 'admin' }),
        version,
        observers: observers.admin,
        ports,
        listeners,
        mappings: views,
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
    events,
    identity,
    async start() {
      await preloadPools(ports.all, store, log);
      await listeners.start();
      await admin?.start();
      accepting = true;
      const [first] = config.mappings;
      log.info(
        {
          host: first!.host,
          ports: describeRanges(config),
          upstream: describeMembers(first!),
          ...(config.mappings.length > 1 || first!.source
            ? { mappings: config.mappings.map((mapping) => ({ name: mapping.name, host: mapping.host, ports: `${mapping.portStart}-${mapping.portEnd}`, upstream: describeMembers(mapping), clientAuth: mapping.auth.required, hostRules: mapping.hostRules.length, rotationRules: mapping.rotationRules.length })) }
            : first!.rotationRules.length > 0 ? { rotationRules: first!.rotationRules.map((rule) => rule.name) } : {}),
          // The echo URL's host only: its query may hold a token.
          ...(config.identity.echoUrl ? { identity: new URL(config.identity.echoUrl).host, onDrift: config.identity.onDrift } : {}),
          ...(config.identity.keepAliveMs > 0 ? { keepAliveMs: config.identity.keepAliveMs } : {}),
          store: store.kind,
          sessionApi: config.sessionApi.enabled ? config.sessionApi.domain || '(port itself)' : 'off',
          // Per mapping: the top-level key says nothing of a mapping that sets its own.
          clientAuth: config.mappings.every((mapping) => mapping.auth.required) ? true : config.mappings.some((mapping) => mapping.auth.required) ? 'some mappings' : false,
          maxConnectionsPerClient: limits.perClient || 'unlimited',
          maxConnectionsPerPort: limits.perPort || 'unlimited',
          maxConnections: limits.total || 'unlimited',
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

/** Every (host, port) of every mapping, as the listeners serve them. */
function endpointsOf(config: StickyportConfig): ListenEndpoint[] {
  const endpoints: ListenEndpoint[] = [];
  for (const mapping of config.mappings) {
    for (let port = mapping.portStart; port <= mapping.portEnd; port++) endpoints.push({ host: mapping.host, port });
  }
  return endpoints;
}

function describeMembers(mapping: StickyportConfig['mappings'][number]): string {
  const { members } = mapping.upstream;
  return members.length === 0 ? 'direct' : members.map((member) => member.description).join(', ');
}

/** `10201-10300`, or every mapping's range: `10201-10300, 10401-10410`. */
export function describeRanges(config: StickyportConfig): string {
  return config.mappings.map((mapping) => `${mapping.portStart}-${mapping.portEnd}`).join(', ');
}

/**
 * Counts the sessions the store already holds for pool members, so that new sessions after a
 * restart spread over the members as if it had not happened. A store that cannot list (Redis
 * down) only costs that evenness.
 */
async function preloadPools(mappings: readonly Mapping[], store: SessionStore, log: Logger): Promise<void> {
  if (!mappings.some((mapping) => mapping.pool)) return;
  try {
    const sessions = await store.list();
    for (const mapping of mappings) mapping.pool?.preload(sessions.filter((session) => mapping.owns(session.port)));
  } catch (error) {
    log.warn({ err: error }, 'could not list the stored sessions: pool members are counted from now on');
  }
}

/** The package's version, or 'unknown' for a dist/ copied away from its package.json (A/B benches). */
function runningVersion(): string {
  try {
    return packageVersion();
  } catch {
    return 'unknown';
  }
}
