import { ApiGateway } from './api/api-gateway.js';
import { createSessionApi } from './api/session-api.js';
import type { StickyportConfig } from './config/load.js';
import { ExitIdentity } from './identity/exit-identity.js';
import { IdentityEvents } from './identity/identity-events.js';
import type { Logger } from './logging/logger.js';
import { Mapping } from './ports/mapping.js';
import { Ports } from './ports/ports.js';
import { ConnectionLimits } from './proxy/connection-limits.js';
import { ListenerPool, type ListenEndpoint, type ListenerStatus } from './proxy/listener-pool.js';
import { ProxyEngine } from './proxy/proxy-engine.js';
import type { SessionIdRule } from './session/session.js';
import { SessionService } from './session/session-service.js';
import { createStore } from './store/create-store.js';
import type { SessionStore } from './store/session-store.js';
import { routeByFirstByte } from './socks/first-byte.js';
import { SocksApi } from './socks/socks-api.js';
import { SocksServer } from './socks/socks-server.js';

export interface AppDeps {
  readonly log: Logger;
  /** A store to use instead of the configured one (tests share one between two apps). */
  readonly store?: SessionStore;
  /** Extra TLS options for https:// echo URLs (tests trust their own CA with it). */
  readonly tls?: import('node:tls').ConnectionOptions;
}

export interface App {
  readonly config: StickyportConfig;
  readonly ports: Ports;
  readonly listeners: ListenerPool;
  readonly limits: ConnectionLimits;
  /** Counters and a hook for exit identity checks, drift, keep-alive and rule rotations (metrics subscribe). */
  readonly events: IdentityEvents;
  readonly identity: ExitIdentity;
  /** Binds every port, or throws LISTEN_FAILED having bound none. */
  start(): Promise<void>;
  /** Stops accepting, drains for `drainMs`, closes what is left and the store. Idempotent. */
  stop(drainMs?: number): Promise<void>;
  status(): ListenerStatus[];
}

/** The composition root: wires config into store, sessions, ports, engine and listeners. */
export async function createApp(config: StickyportConfig, deps: AppDeps): Promise<App> {
  const { log } = deps;
  const events = new IdentityEvents();
  const rotation = { events, log: log.child({ component: 'rotation' }), bodyScanBytes: config.rotation.bodyScanBytes };
  const mappings = config.mappings.map(
    (mapping) =>
      new Mapping(mapping, {
        idLength: config.session.idLength,
        idAlphabet: config.session.idAlphabet,
        timeouts: {
          connectTimeoutMs: config.upstream.connectTimeoutMs,
          responseTimeoutMs: config.upstream.responseTimeoutMs,
          poolIdleTimeoutMs: config.upstream.poolIdleTimeoutMs,
        },
        cooldown: config.upstream.cooldown,
        log: log.child({ component: 'upstream' }),
        rotation,
      }),
  );
  const mappingOf = (port: number): Mapping | undefined => mappings.find((mapping) => mapping.owns(port));
  // What a stored session may hold, per port: the pool members and parameters of its mapping.
  const storedRule: SessionIdRule = {
    idLength: config.session.idLength,
    idAlphabet: config.session.idAlphabet,
    portRule: (port) => {
      const mapping = mappingOf(port);
      return mapping && { upstreamKeys: mapping.pool?.keys, parameters: mapping.declared };
    },
  };
  const store = deps.store ?? (await createStore(config.store, log.child({ component: 'store' }), storedRule));
  const sessions = new SessionService(store, log.child({ component: 'sessions' }));
  const identity = new ExitIdentity(config.identity, { sessions, events, log: log.child({ component: 'identity' }), tls: deps.tls });
  // Per-request hooks only when something listens: no cost on the request path otherwise.
  const watching = identity.active
    ? { installed: identity.installed.bind(identity), used: identity.used.bind(identity) }
    : {};
  const ports = new Ports({ sessions, log: log.child({ component: 'ports' }), ...watching }, mappings, store);
  const api = config.sessionApi.enabled
    ? new ApiGateway(createSessionApi(ports, { publicRead: config.sessionApi.publicRead, identity }), {
        domain: config.sessionApi.domain,
        password: config.sessionApi.password,
        loginFor: (port) => ports.mappingOf(port).login,
      })
    : undefined;

  const endpoints: ListenEndpoint[] = [];
  for (const { config: mapping } of mappings) {
    for (let port = mapping.portStart; port <= mapping.portEnd; port++) endpoints.push({ host: mapping.host, port });
  }

  const engine = new ProxyEngine({
    ports,
    api,
    log: log.child({ component: 'proxy' }),
    idleTimeoutMs: config.listen.idleTimeoutMs,
    headersTimeoutMs: config.listen.headersTimeoutMs,
    exposeSessionHeader: config.sessionApi.exposeSessionHeader,
    sessionControl: config.sessionApi.enabled ? { needsLogin: config.sessionApi.password !== '' } : undefined,
  });
  const timeouts = { headersTimeoutMs: config.listen.headersTimeoutMs, idleTimeoutMs: config.listen.idleTimeoutMs };
  const socksApi = api ? new SocksApi(api, timeouts, log.child({ component: 'socks' })) : undefined;
  const socks = new SocksServer({
    ports,
    loginFor: (port) => ports.mappingOf(port).login,
    api: socksApi,
    log: log.child({ component: 'socks' }),
    ...timeouts,
  });
  const limits = new ConnectionLimits(
    { perClient: config.listen.maxConnectionsPerClient, perPort: config.listen.maxConnectionsPerPort },
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

  let stopping: Promise<void> | undefined;
  return {
    config,
    ports,
    listeners,
    limits,
    events,
    identity,
    async start() {
      await preloadPools(mappings, store, log);
      await listeners.start();
      const [first] = config.mappings;
      log.info(
        {
          host: first!.host,
          ports: describeRanges(config),
          upstream: describeMembers(first!),
          ...(config.mappings.length > 1 || first!.source
            ? { mappings: config.mappings.map((mapping) => ({ name: mapping.name, host: mapping.host, ports: `${mapping.portStart}-${mapping.portEnd}`, upstream: describeMembers(mapping), hostRules: mapping.hostRules.length, rotationRules: mapping.rotationRules.length })) }
            : first!.rotationRules.length > 0 ? { rotationRules: first!.rotationRules.map((rule) => rule.name) } : {}),
          // The echo URL's host only: its query may hold a token.
          ...(config.identity.echoUrl ? { identity: new URL(config.identity.echoUrl).host, onDrift: config.identity.onDrift } : {}),
          ...(config.identity.keepAliveMs > 0 ? { keepAliveMs: config.identity.keepAliveMs } : {}),
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
