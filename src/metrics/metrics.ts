import { Counter, Gauge, Registry, collectDefaultMetrics, type Metric } from 'prom-client';
import type { IdentityEvent } from '../identity/identity-events.js';
import type { MappingOf } from '../observe/mappings.js';
import type { RequestRecord } from '../observe/request-record.js';
import type { SessionChange } from '../session/session-service.js';
import type { StoreHealth } from '../store/session-store.js';
import { CounterFamily, HistogramFamily, type CounterCell } from './families.js';
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

/** A record's request and byte cells, and what they were looked up by. */
interface RecordCells {
  readonly mapping: string;
  /** 0 without Metrics.PerPortLabels. */
  readonly port: number;
  readonly kind: string;
  readonly outcome: string;
  /** The status's hundreds digit (0: no status): compared as a number, the label is made on a miss. */
  readonly statusHundreds: number;
  readonly requests: CounterCell;
  readonly up: CounterCell;
  readonly down: CounterCell;
}

const statusClass = (status: number): string => (status === 0 ? 'none' : `${Math.floor(status / 100)}xx`);

/**
 * stickyport's Prometheus metrics, on a registry of its own. The request path only adds to
 * numbers: each label set's cell is bound once and kept (src/metrics/families.ts), and the
 * gauges are read at scrape time. Series are per mapping; per port only with
 * Metrics.PerPortLabels, because 10 000 ports times the outcome and status labels make
 * hundreds of thousands of series, more than most Prometheus servers should take from one target.
 */
export class StickyportMetrics {
  readonly registry = new Registry();
  private readonly requests = new CounterFamily(
    'stickyport_requests_total',
    'Finished plain requests and tunnels, by kind (http, websocket, connect, socks5, socks4), outcome (OK or an error code) and status class',
  );
  private readonly bytes = new CounterFamily(
    'stickyport_client_bytes_total',
    'Bytes of request and answer bodies and of tunnels: direction "up" = from clients toward targets, "down" = back to clients',
  );
  private readonly connect = new HistogramFamily(
    'stickyport_upstream_connect_seconds',
    'Time to open the way out: kind "tunnel" = until a tunnel\'s upstream side was open (TCP, TLS, CONNECT or SOCKS handshake); "pool" = a new pooled upstream connection for plain requests',
    CONNECT_BUCKETS,
  );
  private readonly firstByte = new HistogramFamily('stickyport_upstream_first_byte_seconds', 'Time from sending a plain request upstream to the head of its answer', FIRST_BYTE_BUCKETS);
  private readonly sessions = new CounterFamily('stickyport_sessions_created_total', 'Sessions created by traffic (first use, after expiry or reset)');
  private readonly rotations = new CounterFamily('stickyport_session_rotations_total', 'Sessions ended, by reason: renewed (/session/new or the admin API), reset, expired');
  private readonly storeOperations = new CounterFamily('stickyport_store_operations_total', 'Session store operations, by operation and result (ok, error)');
  private readonly reloads = new CounterFamily('stickyport_config_reloads_total', 'Configuration reloads (SIGHUP, POST /api/reload), by result: applied, refused');
  private readonly identityChecks = new CounterFamily('stickyport_identity_checks_total', 'Exit IP checks through Identity.EchoUrl, by reason (api, create, periodic, keep-alive) and result (ok, error)');
  private readonly drifts = new CounterFamily('stickyport_exit_drifts_total', 'Sessions whose exit IP changed under the same session id, by Identity.OnDrift action (log, rotate)');
  private readonly keepAlives = new CounterFamily('stickyport_keep_alive_requests_total', 'Session.KeepAlive requests sent through idle sessions, by result (ok, error)');
  private readonly ruleRotations = new CounterFamily('stickyport_rule_rotations_total', 'Sessions replaced by a rotation rule, by rule name');
  private readonly ruleRetries = new CounterFamily('stickyport_rule_retries_total', 'Plain requests sent again on the new session by a rotate-and-retry rule, by rule name');
  private readonly poolConnects: PoolConnects;
  private lastCells: RecordCells | undefined;

  constructor(private readonly options: MetricsOptions) {
    collectDefaultMetrics({ register: this.registry });
    for (const family of [this.requests, this.bytes, this.connect, this.firstByte, this.sessions, this.rotations, this.storeOperations, this.reloads, this.identityChecks, this.drifts, this.keepAlives, this.ruleRotations, this.ruleRetries]) {
      this.registry.registerMetric(family as unknown as Metric);
    }
    this.scrapeGauges(options.perPortLabels);
    this.poolConnects = new PoolConnects((host, seconds) => {
      const mapping = options.mappingOfUpstream(host);
      const key = `${mapping}\0pool`;
      (this.connect.find(key) ?? this.connect.add(key, { mapping, kind: 'pool' })).observe(seconds);
    });
  }

  readonly observe = (record: RequestRecord): void => {
    const mapping = this.options.mappingOf(record.port);
    const cells = this.cellsFor(mapping, record);
    cells.requests.value++;
    if (record.bytesUp > 0) cells.up.value += record.bytesUp;
    if (record.bytesDown > 0) cells.down.value += record.bytesDown;
    if (record.upstreamMs === undefined) return;
    const seconds = record.upstreamMs / 1000;
    if (record.kind === 'http' || record.kind === 'websocket') {
      (this.firstByte.find(mapping) ?? this.firstByte.add(mapping, { mapping })).observe(seconds);
    } else {
      const tunnel = `${mapping}\0tunnel`;
      (this.connect.find(tunnel) ?? this.connect.add(tunnel, { mapping, kind: 'tunnel' })).observe(seconds);
    }
  };

  /**
   * The request and byte cells of a record. Traffic comes in runs of the same kind, outcome
   * and status class: the cells of the last record are kept, so that most records look nothing up.
   * A cell is keyed by exactly the labels it is exported with: keyed by the exact status, 200
   * and 201 made two series with the same labels, which Prometheus rejects as duplicates.
   */
  private cellsFor(mapping: string, record: RequestRecord): RecordCells {
    const last = this.lastCells;
    const port = this.options.perPortLabels ? record.port : 0;
    const hundreds = Math.floor(record.status / 100);
    if (last && last.mapping === mapping && last.port === port && last.kind === record.kind && last.outcome === record.outcome && last.statusHundreds === hundreds) {
      return last;
    }
    const status = statusClass(record.status);
    const where = port ? `${mapping}\0${port}` : mapping;
    const place: Record<string, string | number> = port ? { mapping, port } : { mapping };
    const key = `${where}\0${record.kind}\0${record.outcome}\0${status}`;
    const up = `${where}\0up`;
    const down = `${where}\0down`;
    const cells: RecordCells = {
      mapping,
      port,
      kind: record.kind,
      outcome: record.outcome,
      statusHundreds: hundreds,
      requests: this.requests.find(key) ?? this.requests.add(key, { ...place, kind: record.kind, outcome: record.outcome, status_class: status }),
      up: this.bytes.find(up) ?? this.bytes.add(up, { ...place, direction: 'up' }),
      down: this.bytes.find(down) ?? this.bytes.add(down, { ...place, direction: 'down' }),
    };
    this.lastCells = cells;
    return cells;
  }

  readonly sessionChanged = (port: number, change: SessionChange): void => {
    const mapping = this.options.mappingOf(port);
    if (change === 'created') (this.sessions.find(mapping) ?? this.sessions.add(mapping, { mapping })).value++;
    else {
      const key = `${mapping}\0${change}`;
      (this.rotations.find(key) ?? this.rotations.add(key, { mapping, reason: change })).value++;
    }
  };

  storeOperation(operation: string, ok: boolean): void {
    const result = ok ? 'ok' : 'error';
    const key = `${operation}\0${result}`;
    (this.storeOperations.find(key) ?? this.storeOperations.add(key, { operation, result })).value++;
  }

  reloaded(applied: boolean): void {
    const result = applied ? 'applied' : 'refused';
    (this.reloads.find(result) ?? this.reloads.add(result, { result })).value++;
  }

  /** What the identity checks, keep-alive and rotation rules did (src/identity/identity-events.ts). */
  readonly identityEvent = (event: IdentityEvent): void => {
    if (event.type === 'exit-seen') return;
    const mapping = this.options.mappingOf(event.port);
    const count = (family: CounterFamily, labels: Record<string, string>): void => {
      const key = [mapping, ...Object.values(labels)].join('\0');
      (family.find(key) ?? family.add(key, { mapping, ...labels })).value++;
    };
    if (event.type === 'identity-check') count(this.identityChecks, { reason: event.reason, result: event.ok ? 'ok' : 'error' });
    else if (event.type === 'drift') count(this.drifts, { action: event.action });
    else if (event.type === 'keep-alive') count(this.keepAlives, { result: event.ok ? 'ok' : 'error' });
    else if (event.type === 'rule-rotation') count(this.ruleRotations, { rule: event.rule });
    else count(this.ruleRetries, { rule: event.rule });
  };

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
