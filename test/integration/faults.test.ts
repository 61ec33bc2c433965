import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { closed, openTunnel, request } from '../helpers/client.js';
import { eventually } from '../helpers/eventually.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startRecordingUpstream, type RecordingUpstream, type UpstreamMode } from '../helpers/recording-upstream.js';
import { startStickyport, upstreamUrl, type RunningProxy } from '../helpers/stickyport.js';

let origin: Origin;
let upstream: RecordingUpstream;
let healthyUpstream: RecordingUpstream;
let proxy: RunningProxy;
let healthy: RunningProxy;

beforeAll(async () => {
  origin = await startOrigin();
  upstream = await startRecordingUpstream();
  healthyUpstream = await startRecordingUpstream();
  const timeouts = { ConnectTimeout: '300ms', ResponseTimeout: '300ms' };
  proxy = await startStickyport({ Upstream: { Url: upstreamUrl(upstream.port), ...timeouts } });
  healthy = await startStickyport({ Upstream: { Url: upstreamUrl(healthyUpstream.port), ...timeouts } });
});

afterAll(async () => {
  await proxy.stop();
  await healthy.stop();
  await upstream.close();
  await healthyUpstream.close();
  await origin.close();
});

beforeEach(() => {
  upstream.mode = 'ok';
});

/** After a fault: every port serves again and no socket is left over on either side. */
async function recovered(): Promise<void> {
  upstream.mode = 'ok';
  for (const port of [...proxy.ports, ...healthy.ports]) {
    expect((await request(port, `${origin.url}/`)).status).toBe(200);
  }
  await eventually(() => proxy.app.listeners.connectionCount() === 0, 'client connections are closed');
}

describe('upstream faults', () => {
  it.each<[UpstreamMode, number, string]>([
    ['reset', 502, 'UPSTREAM_RESET'],
    ['407', 502, 'UPSTREAM_AUTH'],
    ['stall', 504, 'UPSTREAM_TIMEOUT'],
  ])('plain HTTP: upstream mode %s gives %d %s', async (mode, status, code) => {
    upstream.mode = mode;
    const answer = await request(proxy.ports[0]!, `${origin.url}/`);
    expect(answer.status).toBe(status);
    expect(answer.headers['x-stickyport-error']).toBe(code);
    expect(answer.body.length).toBeGreaterThan(10);
    await recovered();
  });

  it.each<[UpstreamMode, number]>([
    ['reset', 502],
    ['407', 502],
    ['503', 502],
    ['stall', 504],
  ])('CONNECT: upstream mode %s gives %d', async (mode, status) => {
    upstream.mode = mode;
    const tunnel = await openTunnel(proxy.ports[1]!, `127.0.0.1:${origin.port}`);
    expect(tunnel.status).toBe(status);
    await closed(tunnel.socket);
    await recovered();
  });

  it('closes the client tunnel when the upstream resets it mid-way', async () => {
    upstream.mode = 'reset-tunnel';
    const tunnel = await openTunnel(proxy.ports[2]!, `127.0.0.1:${origin.port}`);
    await closed(tunnel.socket);
    await recovered();
  });

  it('lets stalled upstream sockets go once the request timed out', async () => {
    const baseline = upstream.openConnections();
    upstream.mode = 'stall';
    await Promise.all(proxy.ports.map((port) => request(port, `${origin.url}/`)));
    await eventually(() => upstream.openConnections() <= baseline, 'the stalled upstream connections are closed');
    await recovered();
  });
});
