/**
 * Counters and histograms whose label sets are bound once: the request path adds to a plain
 * number in a cell it looked up by a key of its own. prom-client's `labels()` children hash
 * the labels again on every call, which cost as much as the rest of a request's metrics;
 * these hand prom-client's registry their values only when Prometheus scrapes (the registry
 * takes any object with a name, help, type and `get()`).
 */

type Labels = Readonly<Record<string, string | number>>;

interface MetricValue {
  readonly labels: Labels;
  readonly value: number;
  readonly metricName?: string;
}

interface Collected {
  readonly name: string;
  readonly help: string;
  readonly type: string;
  readonly values: MetricValue[];
  readonly aggregator: 'sum';
}

export interface CounterCell {
  value: number;
}

export class CounterFamily {
  readonly type = 'counter';
  readonly aggregator = 'sum';
  private readonly cells = new Map<string, { readonly labels: Labels; readonly cell: CounterCell }>();

  constructor(
    readonly name: string,
    readonly help: string,
  ) {}

  /** The cell bound to `key`, if there is one yet. */
  find(key: string): CounterCell | undefined {
    return this.cells.get(key)?.cell;
  }

  /** Binds `key` to a new cell with `labels`. */
  add(key: string, labels: Labels): CounterCell {
    const cell = { value: 0 };
    this.cells.set(key, { labels, cell });
    return cell;
  }

  get(): Collected {
    const values = [...this.cells.values()].map(({ labels, cell }) => ({ labels, value: cell.value }));
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }
}

export class HistogramCell {
  /** Observations per bucket (not cumulative), the last one for +Inf. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(private readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    const { bounds } = this;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    this.counts[i]!++;
    this.sum += value;
    this.count++;
  }
}

export class HistogramFamily {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly cells = new Map<string, { readonly labels: Labels; readonly cell: HistogramCell }>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly bounds: readonly number[],
  ) {}

  find(key: string): HistogramCell | undefined {
    return this.cells.get(key)?.cell;
  }

  add(key: string, labels: Labels): HistogramCell {
    const cell = new HistogramCell(this.bounds);
    this.cells.set(key, { labels, cell });
    return cell;
  }

  get(): Collected {
    const values: MetricValue[] = [];
    for (const { labels, cell } of this.cells.values()) {
      let cumulative = 0;
      this.bounds.forEach((bound, i) => {
        cumulative += cell.counts[i]!;
        values.push({ metricName: `${this.name}_bucket`, labels: { le: bound, ...labels }, value: cumulative });
      });
      values.push({ metricName: `${this.name}_bucket`, labels: { le: '+Inf', ...labels }, value: cell.count });
      values.push({ metricName: `${this.name}_sum`, labels, value: cell.sum });
      values.push({ metricName: `${this.name}_count`, labels, value: cell.count });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }
}
