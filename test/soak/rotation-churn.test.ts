import { readdirSync } from 'node:fs';
import http from 'node:http';
import v8 from 'node:v8';
import vm from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiJson, closed, openTunnel, request } from '../helpers/client.js';
import { eventually } from '../helpers/eventually.js';
import { startStack, type Stack } from '../helpers/stack.js';

// 200 ports, each rotated every 0.3-2.5 s while a keep-alive client and a CONNECT client loop
// on it. The recording upstream is the judge: nothing sent after a rotation was answered may
// arrive with an older id, and every tunnel open on the old id is closed by the rotation.
const SCALE = Number(process.env.SOAK_SCALE ?? 1);
const PORTS = 200;
const DURATION_MS = Math.max(1_500, Math.round(6_000 * SCALE));

interface Rotation {
  readonly answeredAt: number;
  readonly id: string;
}

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;
const openFds = (): number => readdirSync('/proc/self/fd').length;
const heapAfterGc = (): number => {
  gc();
  return process.memoryUsage().heapUsed;
};

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ Logging: { Level: 'warn' }, Upstream: { PoolIdleTimeout: '60s' } }, { portCount: PORTS });
}, 60_000);
afterAll(() => stack?.stop());

describe('rotation churn', () => {
  it('200 ports rotating every 0.3-2.5 s under keep-alive and CONNECT clients: no old id after an answer', async () => {
    const { proxy, origin, upstream } = stack;
    // Client, proxy, upstream and origin share this process: its descriptors and heap are the
    // judge of what the run left behind.
    const fdsBefore = openFds();
    const heapBefore = heapAfterGc();
    const until = performance.now() + DURATION_MS;
    const rotations = new Map<number, Rotation[]>(proxy.ports.map((port) => [port, []]));
    const sent = new Map<string, { port: number; sentAt: number }>();
    const tunnelsLeftOpen: string[] = [];
    let serial = 0;

    const rotator = async (port: number): Promise<void> => {
      while (performance.now() < until) {
        await new Promise((resolve) => setTimeout(resolve, 300 + Math.random() * 2_200));
        const { session_id: id } = await apiJson<{ session_id: string }>(port, '/session/new');
        rotations.get(port)!.push({ answeredAt: performance.now(), id });
      }
    };
    const keepAliveClient = async (port: number): Promise<void> => {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      try {
        while (performance.now() < until) {
          const name = `churn-${port}-${++serial}`;
          sent.set(name, { port, sentAt: performance.now() });
          expect((await request(port, `${origin.url}/${name}`, { agent })).status).toBe(200);
        }
      } finally {
        agent.destroy();
      }
    };
    const tunnelClient = async (port: number): Promise<void> => {
      while (performance.now() < until) {
        // A CONNECT judged like a request: its target is its marker (the upstream records it,
        // then finds nothing listening there or something it leaves at once). Never on
        // 127.0.0.1, where the origin listens: a marker that was the origin's port had every
        // held tunnel judged as that one port's (658 false violations in one CI run).
        const n = ++serial;
        const marker = `127.0.0.${2 + (n % 250)}:${41_000 + (Math.floor(n / 250) % 20_000)}`;
        sent.set(marker, { port, sentAt: performance.now() });
        (await openTunnel(port, marker)).socket.destroy();
        // A real tunnel, held: a rotation of its port answered after it opened must close it.
        const tunnel = await openTunnel(port, `127.0.0.1:${origin.port}`);
        expect(tunnel.status).toBe(200);
        const openedAt = performance.now();
        const closedAt = await Promise.race([
          closed(tunnel.socket).then(() => performance.now()),
          new Promise<number>((resolve) => setTimeout(() => resolve(Infinity), 3_000)),
        ]);
        tunnel.socket.destroy();
        const rotated = rotations.get(port)!.find((rotation) => rotation.answeredAt > openedAt);
        // The proxy closes the tunnel before it answers the rotation; the close reaches this
        // client a moment after the answer reaches the rotator, never much later.
        if (rotated && closedAt > rotated.answeredAt + 500) tunnelsLeftOpen.push(`a tunnel on port ${port} outlived the rotation to ${rotated.id}`);
      }
    };

    await Promise.all(proxy.ports.flatMap((port) => [rotator(port), keepAliveClient(port), tunnelClient(port)]));

    // Judge plain requests by their marker, and every request's id against its port's rotations.
    let judged = 0;
    const violations: string[] = [];
    for (const entry of upstream.seen) {
      const name = entry.kind === 'connect' ? entry.target : entry.target.slice(entry.target.lastIndexOf('/') + 1);
      const info = sent.get(name);
      if (!info) continue;
      const list = rotations.get(info.port)!;
      let last = -1;
      for (let i = 0; i < list.length; i++) if (list[i]!.answeredAt <= info.sentAt) last = i;
      if (last < 0) continue;
      judged++;
      const allowed = new Set(list.slice(last).map((rotation) => rotation.id));
      if (!allowed.has(entry.session!)) violations.push(`${name} left with ${entry.session} after ${list[last]!.id} was answered`);
    }
    expect(violations).toEqual([]);
    expect(judged).toBeGreaterThan(100);
    expect(tunnelsLeftOpen).toEqual([]);
    // Everything the retired sessions had open upstream is closed: only the current ones remain.
    await eventually(() => upstream.openConnections() <= PORTS, 'upstream connections of retired sessions closed');
    // Rotate every port once more: then only the upstream's own pool to the origin may remain.
    await Promise.all(proxy.ports.map((port) => apiJson(port, '/session/reset')));
    await eventually(() => upstream.openConnections() === 0, 'every upstream connection of every session closed');
    await eventually(() => proxy.app.listeners.connectionCount() === 0, 'every client connection to the proxy closed');
    // What is left beyond the baseline is the test upstream's own idle pool to the origin (two
    // descriptors per pooled connection, both ends in this process): nothing of stickyport's.
    await eventually(() => openFds() <= fdsBefore + 2 * 256 + 16, `descriptors back near their baseline of ${fdsBefore}`);
    expect(heapAfterGc() - heapBefore).toBeLessThan(32 * 1024 * 1024);
  }, 120_000);
});
