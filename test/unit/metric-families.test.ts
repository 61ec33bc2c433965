import { Registry, type Metric } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { CounterFamily, HistogramFamily } from '../../src/metrics/families.js';

// The bound-once counters and histograms, as prom-client's registry writes them.

describe('metric families', () => {
  it('write counters and cumulative histogram buckets in Prometheus text format', async () => {
    const registry = new Registry();
    const counter = new CounterFamily('x_total', 'a counter');
    const histogram = new HistogramFamily('x_seconds', 'a histogram', [0.1, 1]);
    registry.registerMetric(counter as unknown as Metric);
    registry.registerMetric(histogram as unknown as Metric);
    const cell = counter.find('a') ?? counter.add('a', { mapping: 'm', kind: 'http' });
    cell.value += 3;
    expect(counter.find('a')).toBe(cell);
    const latency = histogram.add('m', { mapping: 'm' });
    for (const value of [0.05, 0.1, 0.5, 7]) latency.observe(value);
    expect(await registry.metrics()).toBe(
      [
        '# HELP x_total a counter',
        '# TYPE x_total counter',
        'x_total{mapping="m",kind="http"} 3',
        '',
        '# HELP x_seconds a histogram',
        '# TYPE x_seconds histogram',
        'x_seconds_bucket{le="0.1",mapping="m"} 2',
        'x_seconds_bucket{le="1",mapping="m"} 3',
        'x_seconds_bucket{le="+Inf",mapping="m"} 4',
        'x_seconds_sum{mapping="m"} 7.65',
        'x_seconds_count{mapping="m"} 4',
        '',
      ].join('\n'),
    );
  });
});
