import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { MappingOf } from '../observe/mappings.js';
import type { RequestRecord } from '../observe/request-record.js';
import type { SessionChange } from '../session/session-service.js';
import type { StoreHealth } from '../store/session-store.js';
import { PoolConnects } from './pool-connects.js';

/** What the gauges read when Prometheus scrapes: nothing of this is counted on the request path. */
export interface ScrapeSources {
  /** Every port of every mapping. */
  ports(): readonly number[];
  listening(port: number): boolean;
  connections(port: number): number;
  openTunnels(port: number): number;
  /** The port has a session bound now. */
  hasSession(port: number): boolean;
  storeHealth(): StoreHealth;
  /** Connections refused at Listen.MaxConnectionsPerClient / PerPort since start. */
  refusedConnections(): number;
}

export interface MetricsOptions {
  readonly mappingOf: MappingOf;
  /** The mapping whose upstream is `host` (`hostname:port`): a pooled connection names no local port. */
  readonly mappingOfUpstream: (host: string) => string;
  /** Metrics.PerPortLabels: one series per port on the request and byte counters and the gauges. */
  readonly perPortLabels: boolean;
  readonly version: string;
  readonly sources: ScrapeSources;
}

// Upstream connects take milliseconds on a LAN and seconds through a far exit; answers up to
// Upstream.ResponseTimeout (30 s by default).
const CONNECT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const FIRST_BYTE_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

type CounterChild = ReturnType<Counter<string>['labels']>;
type HistogramChild = ReturnType<Histogram<string>['labels']>;

const statusClass = (status: number): string => (status === 0 ? 'none' : `${Math.floor(status / 100)}xx`);

/**
 * stickyport's Prometheus metrics, on a registry of its own. The request path only increments:
 * each label set's child is bound once and kept (prom-client would hash the labels on every
 * call), and the gauges are read at scrape time. Series are per mapping; per port only with
 * Metrics.PerPortLabels, because 10 000 ports times the outcome and status labels make
 * hundreds of thousands of series, more than most Prometheus servers should take from one target.
 */
export class StickyportMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter<string>;
  private readonly bytes: Counter<string>;
  private readonly connect: Histogram<string>;
  private readonly firstByte: Histogram<string>;
  private readonly sessionsCreated: Counter<string>;
  private readonly rotations: Counter<string>;
  private readonly storeOperations: Counter<string>;
  private readonly reloads: Counter<string>;
  private readonly requestChildren = new Map<string, CounterChild>();
  private readonly byteChildren = new Map<string, { up: CounterChild; down: CounterChild }>();
  private readonly histogramChildren = new Map<string, HistogramChild>();
  private readonly poolConnects: PoolConnects;

  constructor(private readonly options: MetricsOptions) {
    const registers = [this.registry];
    const port = options.perPortLabels ? ['port'] : [];
    collectDefaultMetrics({ register: this.registry });
    this.requests = new Counter({
      name: 'stickyport_requests_total',
      help: 'Finished plain requests and tunnels, by kind (http, websocket, connect, socks5, socks4), outcome (OK or an error code) and status class',
      labelNames: ['mapping', ...port, 'kind', 'outcome', 'status_class'],
      registers,
    });
    this.bytes = new Counter({
      name: 'stickyport_client_bytes_total',
      help: 'Bytes of request and answer bodies and of tunnels: direction "up" = from clients toward targets, "down" = back to clients',
      labelNames: ['mapping', ...port, 'direction'],
      registers,
    });
    this.connect = new Histogram({
      name: 'stickyport_upstream_connect_seconds',
      help: 'Time to open the way out: kind "tunnel" = until a tunnel\'s upstream side was open (TCP, TLS, CONNECT or SOCKS handshake); "pool" = a new pooled upstream connection for plain requests',
      labelNames: ['mapping', 'kind'],
      buckets: CONNECT_BUCKETS,
      registers,
    });
    this.firstByte = new Histogram({
      name: 'stickyport_upstream_first_byte_seconds',
      help: 'Time from sending a plain request upstream to the head of its answer',
      labelNames: ['mapping'],
      buckets: FIRST_BYTE_BUCKETS,
      registers,
    });
    this.sessionsCreated = new Counter({ name: 'stickyport_sessions_created_total', help: 'Sessions created by traffic (first use, after expiry or reset)', labelNames: ['mapping'], registers });
    this.rotations = new Counter({
      name: 'stickyport_session_rotations_total',
      help: 'Sessions ended, by reason: renewed (/session/new or the admin API), reset, expired',
      labelNames: ['mapping', 'reason'],
      registers,
    });
    this.storeOperations = new Counter({
      name: 'stickyport_store_operations_total',
      help: 'Session store operations, by operation and result (ok, error)',
      labelNames: ['operation', 'result'],
      registers,
    });
    this.reloads = new Counter({ name: 'stickyport_config_reloads_total', help: 'Configuration reloads (SIGHUP, POST /api/reload), by result: applied, refused', labelNames: ['result'], registers });
    this.scrapeGauges(port.length > 0);
    this.poolConnects = new PoolConnects((host, seconds) => this.connectChild(options.mappingOfUpstream(host), 'pool').observe(seconds));
  }

  readonly observe = (record: RequestRecord): void => {
    const { perPortLabels, mappingOf } = this.options;
    const mapping = mappingOf(record.port);
    const where = perPortLabels ? `${mapping}\0${record.port}` : mapping;
    const key = `${where}\0${record.kind}\0${record.outcome}\0${record.status}`;
    let child = this.requestChildren.get(key);
    if (!child) {
      const labels: Record<string, string | number> = { mapping, kind: record.kind, outcome: record.outcome, status_class: statusClass(record.status) };
      if (perPortLabels) labels.port = record.port;
      child = this.requests.labels(labels);
      this.requestChildren.set(key, child);
    }
    child.inc();
    let bytes = this.byteChildren.get(where);
    if (!bytes) {
      const labels: Record<string, string | number> = perPortLabels ? { mapping, port: record.port } : { mapping };
      bytes = { up: this.bytes.labels({ ...labels, direction: 'up' }), down: this.bytes.labels({ ...labels, direction: 'down' }) };
      this.byteChildren.set(where, bytes);
    }
    if (record.bytesUp > 0) bytes.up.inc(record.bytesUp);
    if (record.bytesDown > 0) bytes.down.inc(record.bytesDown);
    if (record.upstreamMs === undefined) return;
    if (record.kind === 'http' || record.kind === 'websocket') this.firstByteChild(mapping).observe(record.upstreamMs / 1000);
    else this.connectChild(mapping, 'tunnel').observe(record.upstreamMs / 1000);
  };

  readonly sessionChanged = (port: number, change: SessionChange): void => {
    const mapping = this.options.mappingOf(port);
    if (change === 'created') this.sessionsCreated.inc({ mapping });
    else this.rotations.inc({ mapping, reason: change });
  };

  storeOperation(operation: string, ok: boolean): void {
    this.storeOperations.inc({ operation, result: ok ? 'ok' : 'error' });
  }

  reloaded(applied: boolean): void {
    this.reloads.inc({ result: applied ? 'applied' : 'refused' });
  }

  /** Prometheus text format. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  close(): void {
    this.poolConnects.close();
  }

  private connectChild(mapping: string, kind: 'tunnel' | 'pool'): HistogramChild {
    const key = `c\0${mapping}\0${kind}`;
    let child = this.histogramChildren.get(key);
    if (!child) {
      child = this.connect.labels({ mapping, kind });
      this.histogramChildren.set(key, child);
    }
    return child;
  }

  private firstByteChild(mapping: string): HistogramChild {
    const key = `f\0${mapping}`;
    let child = this.histogramChildren.get(key);
    if (!child) {
      child = this.firstByte.labels({ mapping });
      this.histogramChildren.set(key, child);
    }
    return child;
  }

  /** Gauges computed when scraped, by mapping (and port). */
  private scrapeGauges(perPort: boolean): void {
    const { sources, mappingOf, version } = this.options;
    const registers = [this.registry];
    const labelNames = perPort ? ['mapping', 'port'] : ['mapping'];
    const perPortGauge = (name: string, help: string, read: (port: number) => number): void => {
      new Gauge({
        name,
        help,
        labelNames,
        registers,
        collect() {
          this.reset();
          const sums = new Map<string, number>();
          for (const port of sources.ports()) {
            const value = read(port);
            if (perPort) this.set({ mapping: mappingOf(port), port }, value);
            else sums.set(mappingOf(port), (sums.get(mappingOf(port)) ?? 0) + value);
          }
          for (const [mapping, value] of sums) this.set({ mapping }, value);
        },
      });
    };
    perPortGauge('stickyport_client_connections', 'Open client connections', (port) => sources.connections(port));
    perPortGauge('stickyport_open_tunnels', 'Open tunnels and WebSockets (each carries its session until it closes)', (port) => sources.openTunnels(port));
    perPortGauge('stickyport_ports_listening', 'Ports whose listener is bound', (port) => (sources.listening(port) ? 1 : 0));
    perPortGauge('stickyport_sessions_bound', 'Ports with a session in use', (port) => (sources.hasSession(port) ? 1 : 0));
    const counted = (mapping: string): number => sources.ports().filter((port) => mappingOf(port) === mapping).length;
    new Gauge({
      name: 'stickyport_ports',
      help: 'Ports configured',
      labelNames: ['mapping'],
      registers,
      collect() {
        this.reset();
        for (const mapping of new Set(sources.ports().map((port) => mappingOf(port)))) this.set({ mapping }, counted(mapping));
      },
    });
    new Gauge({
      name: 'stickyport_store_up',
      help: '1 while the session store answers, 0 while it serves from its fallback (Redis: the local copy)',
      registers,
      collect() {
        this.set(sources.storeHealth().state === 'up' ? 1 : 0);
      },
    });
    new Counter({
      name: 'stickyport_store_outages_total',
      help: 'Session store outages begun (Redis unreachable)',
      registers,
      collect() {
        this.reset();
        this.inc(sources.storeHealth().outages);
      },
    });
    new Counter({
      name: 'stickyport_connections_refused_total',
      help: 'Client connections refused at Listen.MaxConnectionsPerClient or Listen.MaxConnectionsPerPort',
      registers,
      collect() {
        this.reset();
        this.inc(sources.refusedConnections());
      },
    });
    new Gauge({ name: 'stickyport_info', help: 'Always 1: the running version', labelNames: ['version'], registers }).set({ version }, 1);
  }
}
