import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiJson, closed, openTunnel, request } from '../helpers/client.js';
import { eventually } from '../helpers/eventually.js';
import { startStack, type Stack } from '../helpers/stack.js';

// A rotation retires the old session's upstream connections: pooled ones at once, busy ones
// when their answer is done. Under load with rotations the upstream must never be left holding
// connections of sessions that are gone.
const PORTS = 10;
const ROUNDS = 15;
const PARALLEL = 4;
let stack: Stack;

beforeAll(async () => {
  // A long pool idle time: only the rotation can be what closes the old connections.
  stack = await startStack({ Upstream: { PoolIdleTimeout: '60s' } }, { portCount: PORTS });
});
afterAll(() => stack?.stop());

describe('rotation closes what carried the old session', () => {
  it('leaves no upstream connection of a retired session open, under keep-alive load and tunnels', async () => {
    const { proxy, origin, upstream } = stack;
    const agents = proxy.ports.map(() => new http.Agent({ keepAlive: true, maxSockets: PARALLEL }));
    try {
      for (let round = 0; round < ROUNDS; round++) {
        await Promise.all(
          proxy.ports.map(async (port, index) => {
            const tunnel = await openTunnel(port, `127.0.0.1:${origin.port}`);
            const requests = Array.from({ length: PARALLEL }, () => request(port, `${origin.url}/`, { agent: agents[index] }));
            for (const answer of await Promise.all(requests)) expect(answer.status).toBe(200);
            await apiJson(port, '/session/new');
            await closed(tunnel.socket);
          }),
        );
      }
      // Only the current sessions' pools may still hold connections: at most PARALLEL each.
      await eventually(() => upstream.openConnections() <= PORTS * PARALLEL, `upstream connections back to at most ${PORTS * PARALLEL}`);
      for (const port of proxy.ports) await apiJson(port, '/session/reset');
      await eventually(() => upstream.openConnections() === 0, 'every upstream connection closed after the last reset');
    } finally {
      for (const agent of agents) agent.destroy();
    }
  });
});
