import type { StickyportConfig } from '../config/load.js';
import type { Logger } from '../logging/logger.js';
import type { StickyportMetrics } from '../metrics/metrics.js';
import type { LiveLog } from '../observe/live-log.js';
import type { Mappings } from '../observe/mappings.js';
import type { PortStats } from '../observe/port-stats.js';
import type { Ports } from '../ports/ports.js';
import type { ListenerPool } from '../proxy/listener-pool.js';
import type { SessionChangeListener } from '../session/session-service.js';
import type { StoreHealth } from '../store/session-store.js';
import type { ReloadOutcome } from '../reload/reloader.js';

/** What the admin server reads and steers; it never reaches the proxy's traffic paths. */
export interface AdminContext {
  readonly log: Logger;
  readonly version: string;
  readonly startedAt: number;
  readonly ports: Ports;
  readonly listeners: ListenerPool;
  readonly mappings: Mappings;
  readonly stats: PortStats;
  readonly live: LiveLog;
  readonly metrics: StickyportMetrics;
  /** The running configuration (a reload changes it). Shown only through what the page may see. */
  running(): StickyportConfig;
  readonly storeKind: string;
  storeHealth(): StoreHealth;
  /** Every port bound and the app not stopping. */
  accepting(): boolean;
  /** Re-reads the configuration as SIGHUP does; `by` says who asked, for the log. */
  reload(by: string): Promise<ReloadOutcome>;
  /** Tells the admin server of session changes (the page refreshes those rows). */
  onSessionChange(listener: SessionChangeListener): void;
}
