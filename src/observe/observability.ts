import type { StickyportConfig } from '../config/load.js';
import type { Logger } from '../logging/logger.js';
import type { InstrumentedStore } from '../metrics/instrumented-store.js';
import type { ScrapeSources, StickyportMetrics } from '../metrics/metrics.js';
import type { SessionChangeListener } from '../session/session-service.js';
import type { SessionStore, StoreHealth } from '../store/session-store.js';
import { LiveLog } from './live-log.js';
import type { Mappings } from './mappings.js';
import { combine } from './observer.js';
import { PortStats } from './port-stats.js';
import { RequestLog } from './request-log.js';
import type { Observe } from './request-record.js';

/** The metrics classes, loaded only with Admin.Enabled (prom-client adds to every start-up otherwise). */
export interface MetricsKit {
  readonly StickyportMetrics: typeof StickyportMetrics;
  readonly InstrumentedStore: typeof InstrumentedStore;
}

/** Loads the metrics classes when the admin server is on; undefined otherwise. */
export async function loadMetricsKit(config: StickyportConfig): Promise<MetricsKit | undefined> {
  if (!config.admin.enabled) return undefined;
  const [{ StickyportMetrics }, { InstrumentedStore }] = await Promise.all([import('../metrics/metrics.js'), import('../metrics/instrumented-store.js')]);
  return { StickyportMetrics, InstrumentedStore };
}

/** What the admin server reads: made only when Admin.Enabled. */
export interface AdminObservers {
  readonly stats: PortStats;
  readonly live: LiveLog;
  readonly metrics: StickyportMetrics;
  readonly store: InstrumentedStore;
  storeHealth(): StoreHealth;
  /** Adds a listener of session changes (the status page's event stream). */
  onSessionChange(listener: SessionChangeListener): void;
}

/**
 * Everything that watches traffic, wired once: the request log always, and with the admin
 * server the per-port statistics, the live log for the status page, the metrics and a store
 * that counts its operations. The traffic paths see one function, {@link Observability.observe},
 * called once per finished request or tunnel.
 */
export class Observability {
  readonly requestLog: RequestLog;
  readonly admin: AdminObservers | undefined;
  readonly observe: Observe;
  readonly store: SessionStore;
  /** For SessionService.onChange: undefined when nothing listens. */
  readonly sessionChanged: SessionChangeListener | undefined;

  constructor(
    config: StickyportConfig,
    log: Logger,
    mappings: Mappings,
    backend: SessionStore,
    options: { readonly version: string; readonly sources: Omit<ScrapeSources, 'storeHealth'>; readonly kit: MetricsKit | undefined },
  ) {
    this.requestLog = new RequestLog(log, mappings.mappingOf, {
      mode: config.logging.requests,
      urls: config.logging.requestUrls,
    });
    const { kit } = options;
    if (!config.admin.enabled || !kit) {
      this.store = backend;
      this.observe = this.requestLog.observe;
      return;
    }
    let metrics: StickyportMetrics | undefined;
    const store = new kit.InstrumentedStore(backend, (operation, ok) => metrics?.storeOperation(operation, ok));
    metrics = new kit.StickyportMetrics({
      mappingOf: mappings.mappingOf,
      // One mapping today; issue 12 names the mapping whose upstream a pooled connection went to.
      mappingOfUpstream: () => mappings.list()[0]!.name,
      perPortLabels: config.metrics.perPortLabels,
      version: options.version,
      sources: { ...options.sources, storeHealth: () => store.health() },
    });
    const listeners: SessionChangeListener[] = [metrics.sessionChanged];
    this.admin = {
      stats: new PortStats(),
      live: new LiveLog(),
      metrics,
      store,
      storeHealth: () => store.health(),
      onSessionChange: (listener) => void listeners.push(listener),
    };
    this.store = store;
    this.sessionChanged = (port, change) => {
      for (const listener of listeners) listener(port, change);
    };
    this.observe = combine([this.requestLog.observe, this.admin.stats.observe, this.admin.live.observe, metrics.observe])!;
  }

  /** A reload: what the request log writes. */
  configure(config: StickyportConfig): void {
    this.requestLog.configure({ mode: config.logging.requests, urls: config.logging.requestUrls });
  }

  /** A port a reload removed. */
  forget(port: number): void {
    this.admin?.stats.forget(port);
  }

  close(): void {
    this.requestLog.close();
    this.admin?.metrics.close();
  }
}
