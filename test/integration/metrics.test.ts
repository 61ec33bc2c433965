import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logged, startWithAdmin, type AdminClient } from '../helpers/admin.js';
import { apiJson, closed, openTunnel, request } from '../helpers/client.js';
import { eventually } from '../helpers/eventually.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { socks5Connect } from '../helpers/socks-client.js';
import { upstreamUrl, type RunningProxy } from '../helpers/stickyport.js';

/** The value of one sample in Prometheus text, by name and (a subset of) its labels. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const found = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((pair) => [pair[1], pair[2]]));
    if (Object.entries(labels).every(([key, value]) => found[key] === value)) return Number(match[3]);
  }
  return undefined;
}

let origin: Origin;
let upstream: RecordingUpstream;

beforeAll(async () => {
  origin = await startOrigin();
  upstream = await startRecordingUpstream();
});

afterAll(async () => {
  await upstream?.close();
  await origin?.close();
});

describe('GET /metrics', () => {
  let proxy: RunningProxy & { admin: AdminClient };
  beforeAll(async () => {
    proxy = await startWithAdmin({ Upstream: { Url: upstreamUrl(upstream.port) }, Listen: { StickyProxyLifetime: '1s' } }, { portCount: 3 });
  });
  afterAll(async () => {
    await proxy?.stop();
  });

  it('counts requests and tunnels by mapping, kind, outcome and status class, with bytes and latencies', async () => {
    const [a, b] = proxy.ports as [number, number];
    for (let i = 0; i < 3; i++) expect((await request(a, `${origin.url}/bytes/100`)).status).toBe(200);
    upstream.mode = '503';
    await request(b, `${origin.url}/`);
    upstream.mode = 'ok';
    const tunnel = await openTunnel(b, `127.0.0.1:${origin.port}`);
    tunnel.socket.end('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    tunnel.socket.resume();
    await closed(tunnel.socket);
    const socks = await socks5Connect(b, { host: '127.0.0.1', port: origin.port });
    expect(socks.code).toBe(0);
    socks.client.destroy();
    await eventually(() => logged(proxy.logs, 'request completed').length >= 6, 'six records');

    const { status, headers, text } = await proxy.admin.get('/metrics');
    expect(status).toBe(200);
    expect(headers['content-type']).toContain('text/plain');
    const mapping = 'default';
    expect(sample(text, 'stickyport_requests_total', { mapping, kind: 'http', outcome: 'OK', status_class: '2xx' })).toBe(3);
    expect(sample(text, 'stickyport_requests_total', { mapping, kind: 'http', outcome: 'OK', status_class: '5xx' })).toBe(1);
    expect(sample(text, 'stickyport_requests_total', { mapping, kind: 'connect', outcome: 'OK', status_class: '2xx' })).toBe(1);
    expect(sample(text, 'stickyport_requests_total', { mapping, kind: 'socks5', outcome: 'OK' })).toBe(1);
    expect(sample(text, 'stickyport_client_bytes_total', { mapping, direction: 'down' })).toBeGreaterThanOrEqual(300);
    expect(sample(text, 'stickyport_client_bytes_total', { mapping, direction: 'up' })).toBeGreaterThan(0);
    expect(sample(text, 'stickyport_upstream_first_byte_seconds_count', { mapping })).toBe(4);
    expect(sample(text, 'stickyport_upstream_connect_seconds_count', { mapping, kind: 'tunnel' })).toBe(2);
    expect(sample(text, 'stickyport_upstream_connect_seconds_count', { mapping, kind: 'pool' })).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'stickyport_ports', { mapping })).toBe(3);
    expect(sample(text, 'stickyport_ports_listening', { mapping })).toBe(3);
    expect(sample(text, 'stickyport_open_tunnels', { mapping })).toBe(0);
    expect(sample(text, 'stickyport_client_connections', { mapping })).toBeGreaterThanOrEqual(0);
    expect(sample(text, 'stickyport_store_up')).toBe(1);
    expect(sample(text, 'stickyport_store_outages_total')).toBe(0);
    expect(sample(text, 'stickyport_store_operations_total', { operation: 'get_or_create', result: 'ok' })).toBeGreaterThanOrEqual(2);
    expect(sample(text, 'stickyport_connections_refused_total')).toBe(0);
    // prom-client's process metrics.
    expect(sample(text, 'process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(sample(text, 'nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
    // Aggregated by mapping: no port label anywhere.
    expect(text).not.toMatch(/port="/);
  });

  // A /new on a port with no session (after a reset) is a creation, and a reset of no session
  // ends nothing: both were counted as rotations.
  it('counts sessions created, and rotated by reason', async () => {
    const port = proxy.ports[2]!;
    const created = async (): Promise<number> => sample((await proxy.admin.get('/metrics')).text, 'stickyport_sessions_created_total', { mapping: 'default' }) ?? 0;
    await apiJson(port, '/session/');
    await apiJson(port, '/session/new');
    await apiJson(port, '/session/reset');
    await apiJson(port, '/session/reset');
    const before = await created();
    await proxy.admin.post(`/api/ports/${port}/new`);
    expect(await created()).toBe(before + 1);
    await eventually(() => logged(proxy.logs, 'session expired').some((line) => line.port === port), 'the 1 s session expires', 5_000);
    const { text } = await proxy.admin.get('/metrics');
    expect(sample(text, 'stickyport_sessions_created_total', { mapping: 'default' })).toBeGreaterThanOrEqual(3);
    expect(sample(text, 'stickyport_session_rotations_total', { mapping: 'default', reason: 'renewed' })).toBe(1);
    expect(sample(text, 'stickyport_session_rotations_total', { mapping: 'default', reason: 'reset' })).toBe(1);
    expect(sample(text, 'stickyport_session_rotations_total', { mapping: 'default', reason: 'expired' })).toBeGreaterThanOrEqual(1);
  });
});

describe('Metrics.PerPortLabels', () => {
  it('labels the request and byte counters and the gauges with the port', async () => {
    const proxy = await startWithAdmin({ Metrics: { PerPortLabels: true } }, { portCount: 2 });
    try {
      const [a, b] = proxy.ports as [number, number];
      await request(a, `${origin.url}/`);
      await eventually(() => logged(proxy.logs, 'request completed').length >= 1, 'recorded');
      const { text } = await proxy.admin.get('/metrics');
      expect(sample(text, 'stickyport_requests_total', { port: String(a), kind: 'http', outcome: 'OK' })).toBe(1);
      expect(sample(text, 'stickyport_requests_total', { port: String(b) })).toBeUndefined();
      expect(sample(text, 'stickyport_client_bytes_total', { port: String(a), direction: 'down' })).toBe(5);
      expect(sample(text, 'stickyport_ports_listening', { port: String(b) })).toBe(1);
    } finally {
      await proxy.stop();
    }
  });
});

describe('rotation rule metrics', () => {
  it('counts rotations and retries by rule name, and nothing for a rule that did not fire', async () => {
    const proxy = await startWithAdmin({
      Upstream: { Url: upstreamUrl(upstream.port) },
      Rotation: { Rules: [{ Name: 'overloaded', When: { Status: 503 }, Action: 'rotate-and-retry' }, { Name: 'banned', When: { Status: 403 } }] },
    });
    try {
      const [port] = proxy.ports as [number];
      const before = (await apiJson<{ session_id: string }>(port, '/session/')).session_id;
      const rotated = new Promise((resolve) => proxy.app.events.on((event) => event.type === 'rule-retry' && resolve(event)));
      upstream.mode = '503';
      // The retry meets the same 503 (the upstream answers it for every session): relayed, no second retry.
      expect((await request(port, `${origin.url}/`)).status).toBe(503);
      upstream.mode = 'ok';
      await rotated;
      expect((await apiJson<{ session_id: string }>(port, '/session/')).session_id).not.toBe(before);
      const { text } = await proxy.admin.get('/metrics');
      expect(sample(text, 'stickyport_rule_rotations_total', { mapping: 'default', rule: 'overloaded' })).toBeGreaterThanOrEqual(1);
      expect(sample(text, 'stickyport_rule_retries_total', { mapping: 'default', rule: 'overloaded' })).toBe(1);
      expect(sample(text, 'stickyport_rule_rotations_total', { rule: 'banned' })).toBeUndefined();
    } finally {
      upstream.mode = 'ok';
      await proxy.stop();
    }
  });
});
