import type { StickyportConfig } from '../config/load.js';
import type { Logger } from '../logging/logger.js';
import type { Mappings } from '../observe/mappings.js';
import type { AdminObservers } from '../observe/observability.js';
import type { Ports } from '../ports/ports.js';
import type { ListenerPool } from '../proxy/listener-pool.js';
import type { ReloadOutcome } from '../reload/reloader.js';
import { AdminServer } from './admin-server.js';

export interface AdminParts {
  readonly log: Logger;
  readonly version: string;
  readonly observers: AdminObservers;
  readonly ports: Ports;
  readonly listeners: ListenerPool;
  readonly mappings: Mappings;
  readonly running: () => StickyportConfig;
  readonly accepting: () => boolean;
  readonly reload: (by: string) => Promise<ReloadOutcome>;
}

/** The admin server over the running app's parts. */
export function createAdmin(config: StickyportConfig, parts: AdminParts): AdminServer {
  const { observers } = parts;
  return new AdminServer(
    {
      log: parts.log,
      version: parts.version,
      startedAt: Date.now(),
      ports: parts.ports,
      listeners: parts.listeners,
      mappings: parts.mappings,
      stats: observers.stats,
      live: observers.live,
      metrics: observers.metrics,
      running: parts.running,
      storeKind: observers.store.kind,
      storeHealth: observers.storeHealth,
      accepting: parts.accepting,
      reload: parts.reload,
      onSessionChange: observers.onSessionChange,
    },
    { host: config.admin.host, port: config.admin.port, portAuto: config.admin.portAuto, token: config.admin.token },
  );
}
