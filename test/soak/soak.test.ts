import { readdirSync } from 'node:fs';
import http from 'node:http';
import v8 from 'node:v8';
import vm from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getThroughTunnel, openTunnel, request } from '../helpers/client.js';
import { eventually } from '../helpers/eventually.js';
import type { Origin } from '../helpers/origin.js';
import type { RecordingUpstream } from '../helpers/recording-upstream.js';
import { startStack, type Stack } from '../helpers/stack.js';
import type { RunningProxy } from '../helpers/stickyport.js';

/** SOAK_SCALE=0.05 for a quick local run; CI runs the full 100 000 requests and 5 000 tunnels. */
const SCALE = Number(process.env.SOAK_SCALE ?? 1);
const REQUESTS = Math.round(100_000 * SCALE);
const TUNNELS = Math.round(5_000 * SCALE);
const PORTS = 100;
const CONCURRENCY = 50;
const TIME_LIMIT_MS = 120_000;
/** Heap allowed to remain after a full GC, over the warmed-up baseline. */
const HEAP_GROWTH_BOUND = 32 * 1024 * 1024;
/**
 * Idle keep-alive pools may keep what the peak concurrency opened: at most one idle connection
 * per concurrent request in each of the two pooled hops (proxy to upstream, upstream to origin),
 * two descriptors each since both ends live in this process. Anything leaked per request or
 * per tunnel would be far above this.
 */
const FD_BOUND = 2 * 2 * CONCURRENCY + 16;

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

let stack: Stack;
let origin: Origin;
let upstream: RecordingUpstream;
let proxy: RunningProxy;

beforeAll(async () => {
  ({ origin, upstream, proxy } = stack = await startStack({ Logging: { Level: 'warn' } }, { portCount: PORTS }));
});

afterAll(() => stack?.stop());

/** The test's own recorders keep every request; the heap bound is about the proxy. */
function forgetRecordedRequests(): void {
  upstream.seen.length = 0;
  origin.requests.length = 0;
}

const openFds = () => readdirSync('/proc/self/fd').length;

/** Runs `total` jobs with `CONCURRENCY` workers; stops early (and fails) past the deadline. */
async function runBounded(total: number, deadline: number, job: (index: number) => Promise<boolean>): Promise<number> {
  let next = 0;
  let good = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < total && Date.now() < deadline) {
        if (await job(next++)) good++;
      }
    }),
  );
  return good;
}

describe(`soak: ${REQUESTS} requests and ${TUNNELS} tunnels over ${PORTS} ports`, () => {
  it('answers everything, and returns to its file descriptor and heap baseline', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
    const ports = proxy.ports;
    const get = async (index: number) => (await request(ports[index % PORTS]!, `${origin.url}/`, { agent })).status === 200;
    // Warm-up: every port's session, route and pools exist before the baseline is taken.
    await runBounded(PORTS * 4, Date.now() + 30_000, get);
    agent.destroy();
    await eventually(() => proxy.app.listeners.connectionCount() === 0, 'warm-up connections closed');
    forgetRecordedRequests();
    gc();
    const baseline = { fds: openFds(), heap: process.memoryUsage().heapUsed };

    const deadline = Date.now() + TIME_LIMIT_MS;
    const loadAgent = new http.Agent({ keepAlive: true, maxSockets: 4 });
    const answered = await runBounded(REQUESTS, deadline, async (index) =>
      (await request(ports[index % PORTS]!, `${origin.url}/`, { agent: loadAgent })).status === 200,
    );
    loadAgent.destroy();
    const tunnelled = await runBounded(TUNNELS, deadline, async (index) => {
      const tunnel = await openTunnel(ports[index % PORTS]!, `127.0.0.1:${origin.port}`);
      const answer = tunnel.status === 200 ? await getThroughTunnel(tunnel.socket, `127.0.0.1:${origin.port}`) : undefined;
      tunnel.socket.destroy();
      return answer?.body === 'hello';
    });
    expect(Date.now()).toBeLessThan(deadline);
    expect(answered).toBe(REQUESTS);
    expect(tunnelled).toBe(TUNNELS);

    await eventually(() => proxy.app.listeners.connectionCount() === 0, 'client connections closed', 10_000);
    await eventually(() => upstream.openConnections() <= PORTS * 4, 'tunnels to the upstream closed', 10_000);
    await eventually(() => openFds() <= baseline.fds + FD_BOUND, `open fds back to ${baseline.fds} (+${FD_BOUND})`, 10_000);
    forgetRecordedRequests();
    gc();
    const growth = process.memoryUsage().heapUsed - baseline.heap;
    expect(growth).toBeLessThan(HEAP_GROWTH_BOUND);
  }, TIME_LIMIT_MS + 60_000);
});
