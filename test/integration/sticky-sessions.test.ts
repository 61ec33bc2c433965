import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { apiJson, closed, getThroughTunnel, openTunnel, request } from '../helpers/client.js';
import type { Origin } from '../helpers/origin.js';
import type { RecordingUpstream } from '../helpers/recording-upstream.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { startStickyport, upstreamUrl, type RunningProxy } from '../helpers/stickyport.js';
import http from 'node:http';

let stack: Stack;
let origin: Origin;
let upstream: RecordingUpstream;
let proxy: RunningProxy;
let portA: number;
let portB: number;

beforeAll(async () => {
  ({ origin, upstream, proxy } = stack = await startStack());
  [portA, portB] = proxy.ports as [number, number];
});

afterAll(() => stack?.stop());

beforeEach(() => {
  upstream.mode = 'ok';
});

/** The session ids the upstream saw from index `from` on. */
const sessionsSince = (from: number) => upstream.seen.slice(from).map((entry) => entry.session);

describe('sticky sessions through the recording upstream', () => {
  it('carries the same session id for two requests on one port', async () => {
    const from = upstream.seen.length;
    const first = await request(portA, `${origin.url}/`);
    const second = await request(portA, `${origin.url}/`);
    expect([first.status, first.body, second.status]).toEqual([200, 'hello', 200]);
    const ids = sessionsSince(from);
    expect(ids).toHaveLength(2);
    expect(ids[0]).toMatch(/^[a-zA-Z]{8}$/);
    expect(ids[1]).toBe(ids[0]);
  });

  it('gives two ports two different session ids', async () => {
    const from = upstream.seen.length;
    await request(portA, `${origin.url}/`);
    await request(portB, `${origin.url}/`);
    const [a, b] = sessionsSince(from);
    expect(a).toBeDefined();
    expect(b).toBeDefined();
    expect(a).not.toBe(b);
  });

  it('carries the session through a CONNECT tunnel too, end to end', async () => {
    const from = upstream.seen.length;
    await request(portA, `${origin.url}/`);
    const tunnel = await openTunnel(portA, `127.0.0.1:${origin.port}`);
    expect(tunnel.status).toBe(200);
    const answer = await getThroughTunnel(tunnel.socket, `127.0.0.1:${origin.port}`);
    expect(answer.body).toBe('hello');
    tunnel.socket.destroy();
    const [plain, connect] = upstream.seen.slice(from);
    expect(connect!.kind).toBe('connect');
    expect(connect!.session).toBe(plain!.session);
  });

  it('reports through /session/ the id the upstream saw', async () => {
    const from = upstream.seen.length;
    await request(portB, `${origin.url}/`);
    const session = await apiJson<{ session_id: string; expires_at: string; expired: boolean }>(portB, '/session/');
    expect(session.session_id).toBe(upstream.seen[from]!.session);
    expect(session.expired).toBe(false);
    expect(session.expires_at).toMatch(/^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/);
    // The session API itself never reaches the upstream.
    expect(upstream.seen.length).toBe(from + 1);
  });

  it('/session/reset: the next request carries a fresh id and open tunnels are closed', async () => {
    await request(portA, `${origin.url}/`);
    const before = await apiJson<{ session_id: string }>(portA, '/session/');
    const tunnel = await openTunnel(portA, `127.0.0.1:${origin.port}`);
    expect(tunnel.status).toBe(200);

    expect(await apiJson(portA, '/session/reset')).toEqual({ success: true });
    await closed(tunnel.socket);

    const from = upstream.seen.length;
    await request(portA, `${origin.url}/`);
    const [after] = sessionsSince(from);
    expect(after).toBeDefined();
    expect(after).not.toBe(before.session_id);
    expect((await apiJson<{ session_id: string }>(portA, '/session/')).session_id).toBe(after);
  });

  it('/session/new: answers the new session at once, the upstream sees it next, tunnels close', async () => {
    const before = await apiJson<{ session_id: string }>(portB, '/session/');
    const tunnel = await openTunnel(portB, `127.0.0.1:${origin.port}`);
    expect(tunnel.status).toBe(200);

    const renewed = await apiJson<{ session_id: string; expired: boolean }>(portB, '/session/new');
    expect(renewed.session_id).not.toBe(before.session_id);
    expect(renewed.expired).toBe(false);
    await closed(tunnel.socket);

    const from = upstream.seen.length;
    await request(portB, `${origin.url}/`);
    expect(sessionsSince(from)).toEqual([renewed.session_id]);
  });

  it('keeps the API connection open when it rotates the session it carried traffic for', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const from = upstream.seen.length;
      await request(portA, `${origin.url}/`, { agent });
      const renewed = JSON.parse((await request(portA, 'http://portmapper/session/new', { agent })).body);
      await request(portA, `${origin.url}/`, { agent });
      const [old, next] = upstream.seen.slice(from);
      expect(next!.session).toBe(renewed.session_id);
      expect(next!.session).not.toBe(old!.session);
    } finally {
      agent.destroy();
    }
  });

  it('never lets two sessions share an upstream connection', async () => {
    const agent = new http.Agent({ keepAlive: true });
    try {
      for (let round = 0; round < 3; round++) {
        await Promise.all(proxy.ports.map((port) => request(port, `${origin.url}/`, { agent })));
      }
    } finally {
      agent.destroy();
    }
    const sessionsByConnection = new Map<number, Set<string | undefined>>();
    for (const entry of upstream.seen) {
      const set = sessionsByConnection.get(entry.connectionId) ?? new Set();
      set.add(entry.session);
      sessionsByConnection.set(entry.connectionId, set);
    }
    for (const sessions of sessionsByConnection.values()) expect(sessions.size).toBe(1);
    // Keep-alive within a session does happen: fewer connections than requests.
    expect(sessionsByConnection.size).toBeLessThan(upstream.seen.length);
  });
});

describe('headers on the way upstream', () => {
  it('drops hop-by-hop headers and those the Connection header names, keeps the rest', async () => {
    const from = upstream.seen.length;
    const headers = { connection: 'keep-alive, X-Hop-Only', 'x-hop-only': 'this hop', 'x-end-to-end': 'kept', te: 'trailers' };
    expect((await request(portA, `${origin.url}/`, { headers })).status).toBe(200);
    expect((await request(portA, `${origin.url}/`, { headers: { connection: 'Keep-Alive', 'x-end-to-end': 'kept' } })).status).toBe(200);
    const [first, second] = upstream.seen.slice(from).map((entry) => entry.headers);
    expect(first).toMatchObject({ 'x-end-to-end': 'kept' });
    expect(first).not.toHaveProperty('x-hop-only');
    expect(first).not.toHaveProperty('te');
    expect(second).toMatchObject({ 'x-end-to-end': 'kept' });
  });
});

describe('session expiry', () => {
  it('rotates the id once the lifetime has passed and closes tunnels at expiry', async () => {
    const short = await startStickyport(
      { Upstream: { Url: upstreamUrl(upstream.port) }, Listen: { StickyProxyLifetime: '1s' } },
      { portCount: 1 },
    );
    try {
      const [port] = short.ports as [number];
      const from = upstream.seen.length;
      await request(port, `${origin.url}/`);
      const first = await apiJson<{ session_id: string; expires_at: string }>(port, '/session/');
      // Announced rounded up to its second: the real expiry is within the second before.
      const expiresAt = Date.parse(first.expires_at);
      expect(expiresAt - Date.now()).toBeLessThanOrEqual(2_000);

      const tunnel = await openTunnel(port, `127.0.0.1:${origin.port}`);
      expect(tunnel.status).toBe(200);
      await closed(tunnel.socket);
      // The expiry timer closed it: not before the session's expiry second.
      expect(Date.now()).toBeGreaterThan(expiresAt - 1_000);

      await request(port, `${origin.url}/`);
      const ids = sessionsSince(from);
      expect(ids[0]).toBe(first.session_id);
      expect(ids.at(-1)).not.toBe(first.session_id);
      expect(short.logs.some((line) => line.includes('"msg":"session expired"'))).toBe(true);
    } finally {
      await short.stop();
    }
  });
});
