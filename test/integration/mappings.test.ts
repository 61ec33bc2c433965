import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basic, getThroughTunnel, openTunnel, request } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { freePortRange } from '../helpers/ports.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { startStickyport, type RunningProxy } from '../helpers/stickyport.js';

// Two mappings in one process, each with its own ports, upstream, lifetime and login: every
// port's traffic reaches its own mapping's upstream with its own session.

let origin: Origin;
let residential: RecordingUpstream;
let mobile: RecordingUpstream;
let proxy: RunningProxy;
let first: number;

const api = <T = Record<string, unknown>>(port: number, path: string, login?: string) =>
  request(port, `http://portmapper${path}`, { headers: login ? { 'proxy-authorization': login } : {} }).then((answer) => {
    expect(answer.status, answer.body).toBe(200);
    return JSON.parse(answer.body) as T;
  });

beforeAll(async () => {
  origin = await startOrigin();
  residential = await startRecordingUpstream('res-secret');
  mobile = await startRecordingUpstream('mob-secret');
  first = await freePortRange(5);
  proxy = await startStickyport(
    {
      // Top-level keys are only defaults: this range is not bound by itself.
      Listen: { Host: '127.0.0.1', PortRange: { Start: first, End: first + 4 }, StickyProxyLifetime: '2h' },
      Mappings: [
        {
          Name: 'residential',
          Listen: { PortRange: { Start: first, End: first + 1 } },
          Upstream: { Url: `http://res-session-{session}:res-secret@127.0.0.1:${residential.port}` },
        },
        {
          Name: 'mobile',
          Listen: { PortRange: { Start: first + 2, End: first + 3 }, StickyProxyLifetime: '5m', RejectHttpProxy: true },
          Upstream: { Url: `http://mob-session-{session}:mob-secret@127.0.0.1:${mobile.port}` },
          Authentication: { Required: true, Username: 'scraper', Password: 'pw' },
        },
      ],
    },
    { startPort: first, portCount: 5 },
  );
});

afterAll(async () => {
  await proxy?.stop();
  await residential?.close();
  await mobile?.close();
  await origin?.close();
});

describe('two mappings in one process', () => {
  it('binds the mappings\' ports and not the rest of the top-level range', async () => {
    expect(proxy.app.listeners.size).toBe(4);
    await expect(request(first + 4, `${origin.url}/`)).rejects.toThrow(/ECONNREFUSED/);
  });

  it('sends each port through its own mapping\'s upstream with its own session', async () => {
    const login = basic('scraper', 'pw');
    const sessions = new Map<number, string>();
    for (const port of [first, first + 1]) {
      sessions.set(port, (await api<{ session_id: string; mapping: string }>(port, '/session/')).session_id);
      expect((await request(port, `${origin.url}/`)).status).toBe(200);
    }
    for (const port of [first + 2, first + 3]) {
      sessions.set(port, (await api<{ session_id: string }>(port, '/session/', login)).session_id);
      const tunnel = await openTunnel(port, `127.0.0.1:${origin.port}`, { 'proxy-authorization': login });
      expect(tunnel.status).toBe(200);
      expect((await getThroughTunnel(tunnel.socket, `127.0.0.1:${origin.port}`)).body).toBe('hello');
      tunnel.socket.destroy();
    }
    expect(new Set(sessions.values()).size).toBe(4);
    expect(residential.seen.map((seen) => seen.username)).toEqual([`res-session-${sessions.get(first)}`, `res-session-${sessions.get(first + 1)}`]);
    expect(mobile.seen.map((seen) => seen.username)).toEqual([`mob-session-${sessions.get(first + 2)}`, `mob-session-${sessions.get(first + 3)}`]);
    expect(mobile.seen.every((seen) => seen.kind === 'connect')).toBe(true);
  });

  it('gives each mapping its own lifetime, and names the mapping in /session/', async () => {
    const long = await api<{ expires_at: string; mapping: string }>(first, '/session/');
    const short = await api<{ expires_at: string; mapping: string }>(first + 2, '/session/', basic('scraper', 'pw'));
    expect(long.mapping).toBe('residential');
    expect(short.mapping).toBe('mobile');
    const left = (json: { expires_at: string }) => Date.parse(json.expires_at) - Date.now();
    expect(left(long)).toBeGreaterThan(100 * 60_000);
    // expires_at is rounded up to its second.
    expect(left(short)).toBeLessThanOrEqual(5 * 60_000 + 1_000);
    expect(left(short)).toBeGreaterThan(3 * 60_000);
  });

  it('asks for the mapping\'s own login: 407 on the mobile ports, none on the residential ones', async () => {
    const refused = await openTunnel(first + 3, `127.0.0.1:${origin.port}`);
    expect(refused.status).toBe(407);
    refused.socket.destroy();
    expect((await request(first + 1, `${origin.url}/`)).status).toBe(200);
  });

  it('answers plain HTTP with 403 on a CONNECT-only mapping, while its session API still answers', async () => {
    const before = mobile.seen.length;
    const login = basic('scraper', 'pw');
    const refused = await request(first + 2, `${origin.url}/`, { headers: { 'proxy-authorization': login } });
    expect(refused.status).toBe(403);
    expect(refused.headers['x-stickyport-error']).toBe('HTTP_REJECTED');
    expect(refused.body).toContain('Mappings[1].Listen.RejectHttpProxy');
    expect(mobile.seen.length).toBe(before);
    expect((await api(first + 2, '/session/', login)).session_id).toBeDefined();
  });

  it('keeps the store keys apart: a reset on one mapping\'s port leaves the others', async () => {
    const login = basic('scraper', 'pw');
    const before = [await api<{ session_id: string }>(first, '/session/'), await api<{ session_id: string }>(first + 2, '/session/', login)];
    await api(first + 2, '/session/new', login);
    expect((await api<{ session_id: string }>(first, '/session/')).session_id).toBe(before[0]!.session_id);
    expect((await api<{ session_id: string }>(first + 2, '/session/', login)).session_id).not.toBe(before[1]!.session_id);
  });
});
