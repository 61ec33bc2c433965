import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminClient, logged, startWithAdmin, type AdminClient } from '../helpers/admin.js';
import { closed, getThroughTunnel, openTunnel, request } from '../helpers/client.js';
import { eventually } from '../helpers/eventually.js';
import { freePort } from '../helpers/ports.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import type { RunningProxy } from '../helpers/stickyport.js';
import { upstreamUrl } from '../helpers/stickyport.js';

// The admin server over real sockets: the recording upstream is the judge of which session a
// request left with, and the ports API must say the same.

let origin: Origin;
let upstream: RecordingUpstream;
let proxy: RunningProxy & { admin: AdminClient };
let admin: AdminClient;

beforeAll(async () => {
  origin = await startOrigin();
  upstream = await startRecordingUpstream('upsecret');
  proxy = await startWithAdmin(
    {
      Upstream: { Url: upstreamUrl(upstream.port, 'upsecret') },
      Authentication: { Username: 'alice', Password: 'clientsecret' },
      SessionAPI: { Password: 'apisecret' },
    },
    { portCount: 5 },
  );
  admin = proxy.admin;
});

afterAll(async () => {
  await proxy?.stop();
  await upstream?.close();
  await origin?.close();
});

const lastSession = (): string | undefined => upstream.seen.at(-1)?.session;

describe('probes', () => {
  it('/healthz says every port is bound, /readyz that the store answers', async () => {
    const health = await admin.get('/healthz');
    expect(health.status).toBe(200);
    expect(health.json).toEqual({ status: 'ok', ports: 5, notListening: [] });
    const ready = await admin.get('/readyz');
    expect(ready.status).toBe(200);
    expect(ready.json).toEqual({ status: 'ready', accepting: true, store: { kind: 'memory', state: 'up' } });
  });

  it('the probes answer GET and HEAD; any other method is a 405 naming them', async () => {
    for (const path of ['/healthz', '/readyz']) {
      const post = await admin.post(path, {});
      expect(post.status, path).toBe(405);
      expect(post.headers.allow, path).toBe('GET, HEAD');
    }
  });
});

describe('probes of an instance stopping, and of one whose Redis is away', () => {
  it('/readyz and /healthz answer 503 from the moment a stop begins', async () => {
    const stopping = await startWithAdmin({}, { portCount: 1 });
    const port = stopping.ports[0]!;
    // A slow answer keeps the drain (and the admin server) going.
    const slow = request(port, `${origin.url}/delay/1500`);
    await eventually(() => origin.requests.some((seen) => seen.url === '/delay/1500'), 'the slow request reached the origin');
    const stopped = stopping.app.stop(3_000);
    const ready = await stopping.admin.get('/readyz');
    expect(ready.status).toBe(503);
    expect(ready.json).toMatchObject({ status: 'not_ready', accepting: false });
    expect((await stopping.admin.get('/healthz')).status).toBe(503);
    expect((await slow).status).toBe(200);
    await stopped;
  });

  it('stays ready while the Redis store serves from its local copy, and says so', async () => {
    const dead = await freePort();
    const outage = await startWithAdmin({ SessionStore: { Type: 'redis', RedisUrl: `redis://127.0.0.1:${dead}` } }, { portCount: 1 });
    try {
      const ready = await outage.admin.get('/readyz');
      expect(ready.status).toBe(200);
      expect(ready.json).toEqual({ status: 'ready', accepting: true, store: { kind: 'redis', state: 'fallback' } });
      expect((await request(outage.ports[0]!, `${origin.url}/`)).status).toBe(200);
      const { text } = await outage.admin.get('/metrics');
      expect(text).toContain('stickyport_store_up 0');
      expect(text).toContain('stickyport_store_outages_total 1');
      expect((await outage.admin.get('/api/summary')).json.store).toEqual({ kind: 'redis', state: 'fallback', outages: 1 });
    } finally {
      await outage.stop();
    }
  });
});

describe('GET /api/ports', () => {
  it('shows what a request through a port did: its session, counts, bytes, last use (ISO 8601)', async () => {
    const port = proxy.ports[0]!;
    const answer = await request(port, `${origin.url}/bytes/1000`);
    expect(answer.status).toBe(200);
    await eventually(() => proxy.logs.some((line) => line.includes('"msg":"request completed"') && line.includes(`"port":${port}`)), 'the request is recorded');
    const { json: view } = await admin.get(`/api/ports/${port}`);
    expect(view).toMatchObject({ port, mapping: 'default', listening: true, requests: 1, bytesDown: 1000, errors: 0, lastError: null, openTunnels: 0 });
    expect(view.session.id).toBe(lastSession());
    expect(view.session.parameters).toEqual({});
    for (const time of [view.session.createdAt, view.session.expiresAt, view.lastUse]) expect(time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(Date.parse(view.session.expiresAt) - Date.parse(view.session.createdAt)).toBe(10 * 60_000);
  });

  it('counts failures by code, with the last one', async () => {
    const port = proxy.ports[1]!;
    upstream.mode = '503';
    try {
      expect((await request(port, `${origin.url}/`)).status).toBe(503);
      upstream.mode = 'reset';
      const reset = await request(port, `${origin.url}/`);
      expect(reset.headers['x-stickyport-error']).toBe('UPSTREAM_RESET');
    } finally {
      upstream.mode = 'ok';
    }
    await eventually(() => logged(proxy.logs, 'request completed').filter((line) => line.port === port).length >= 2, 'both are recorded');
    const { json: view } = await admin.get(`/api/ports/${port}`);
    expect(view).toMatchObject({ requests: 2, errors: 2, errorsByCode: { HTTP_503: 1, UPSTREAM_RESET: 1 } });
    expect(view.lastError).toEqual({ code: 'UPSTREAM_RESET', message: expect.stringContaining('broke off before a complete answer'), at: expect.stringMatching(/Z$/) });
  });

  it('counts an open tunnel while it is open, and its bytes once it closes', async () => {
    const port = proxy.ports[2]!;
    const tunnel = await openTunnel(port, `127.0.0.1:${origin.port}`);
    expect(tunnel.status).toBe(200);
    expect((await admin.get(`/api/ports/${port}`)).json.openTunnels).toBe(1);
    // Node's client closes the tunnel's socket once this answer is read.
    const answer = await getThroughTunnel(tunnel.socket, `127.0.0.1:${origin.port}`, '/bytes/5000');
    expect(answer.body).toHaveLength(5000);
    tunnel.socket.destroy();
    await closed(tunnel.socket);
    await eventually(() => logged(proxy.logs, 'request completed').some((line) => line.port === port && line.kind === 'connect'), 'the tunnel is recorded');
    const { json: view } = await admin.get(`/api/ports/${port}`);
    expect(view.openTunnels).toBe(0);
    expect(view.requests).toBe(1);
    expect(view.bytesDown).toBeGreaterThan(5000);
    expect(view.bytesUp).toBeGreaterThan(20);
  });

  it('pages with offset and limit, filters by mapping, and finds the page around a port', async () => {
    const page = await admin.get('/api/ports?offset=1&limit=2');
    expect(page.json.total).toBe(5);
    expect(page.json.ports.map((view: { port: number }) => view.port)).toEqual(proxy.ports.slice(1, 3));
    expect((await admin.get('/api/ports?mapping=default&limit=10')).json.ports).toHaveLength(5);
    expect((await admin.get(`/api/ports?limit=2&around=${proxy.ports[4]}`)).json.offset).toBe(4);
    expect((await admin.get('/api/ports?mapping=nope')).status).toBe(404);
    expect((await admin.get('/api/ports?limit=0')).status).toBe(400);
    expect((await admin.get('/api/ports?offset=-1')).status).toBe(400);
    expect((await admin.get('/api/ports/1')).status).toBe(404);
    const used = await admin.get('/api/ports?used=true');
    expect(used.json.ports.map((view: { port: number }) => view.port)).toEqual(expect.arrayContaining([proxy.ports[0], proxy.ports[2]]));
    expect(used.json.ports.map((view: { port: number }) => view.port)).not.toContain(proxy.ports[4]);
  });
});

describe('control', () => {
  it('POST /api/ports/{port}/new: a new session now, the next request leaves with it, logged with who asked', async () => {
    const port = proxy.ports[3]!;
    await request(port, `${origin.url}/`);
    const before = lastSession();
    const answer = await admin.post(`/api/ports/${port}/new`);
    expect(answer.status).toBe(200);
    expect(answer.json).toMatchObject({ port, previous: before, changed: true, session: { id: expect.any(String) } });
    expect(answer.json.session.id).not.toBe(before);
    await request(port, `${origin.url}/`);
    expect(lastSession()).toBe(answer.json.session.id);
    expect(logged(proxy.logs, 'admin: new sessions')).toContainEqual(expect.objectContaining({ by: '127.0.0.1', ports: String(port), action: 'new' }));
  });

  it('POST /api/ports/{port}/reset: no session until the next request makes one', async () => {
    const port = proxy.ports[3]!;
    const before = (await admin.get(`/api/ports/${port}`)).json.session.id;
    const answer = await admin.post(`/api/ports/${port}/reset`);
    expect(answer.json).toEqual({ port, previous: before, session: null, changed: true });
    expect((await admin.get(`/api/ports/${port}`)).json.session).toBeNull();
    await request(port, `${origin.url}/`);
    expect(lastSession()).not.toBe(before);
    expect((await admin.get(`/api/ports/${port}`)).json.session.id).toBe(lastSession());
  });

  it('POST /api/sessions/reset and /new take ports, a range or a mapping, and answer what changed', async () => {
    const [a, b, c, d, e] = proxy.ports as [number, number, number, number, number];
    const byPorts = await admin.post('/api/sessions/new', { ports: [b, a] });
    expect(byPorts.json).toMatchObject({ action: 'new', count: 2, changed: 2 });
    expect(byPorts.json.ports.map((rotated: { port: number }) => rotated.port)).toEqual([a, b]);
    const byRange = await admin.post('/api/sessions/reset', { range: `${a}-${c}` });
    expect(byRange.json).toMatchObject({ action: 'reset', count: 3 });
    expect(byRange.json.ports.map((rotated: { previous: string | null }) => rotated.previous)).toEqual(byPorts.json.ports.map((rotated: { session: { id: string } }) => rotated.session.id).concat(expect.anything()));
    const byMapping = await admin.post('/api/sessions/new', { mapping: 'default' });
    expect(byMapping.json.count).toBe(5);
    const ids = byMapping.json.ports.map((rotated: { session: { id: string } }) => rotated.session.id);
    expect(new Set(ids).size).toBe(5);
    for (const [i, port] of [a, b, c, d, e].entries()) expect((await admin.get(`/api/ports/${port}`)).json.session.id).toBe(ids[i]);
    expect(logged(proxy.logs, 'admin: sessions reset')).toContainEqual(expect.objectContaining({ by: '127.0.0.1', ports: `${a}-${c}` }));
  });

  it('refuses a selection it cannot read, and ports it does not serve, changing nothing', async () => {
    const before = (await admin.get('/api/ports')).json.ports.map((view: { session: unknown }) => view.session);
    for (const body of [undefined, {}, { ports: [] }, { ports: ['x'] }, { range: 'a-b' }, { range: '20-10' }, { ports: [1], range: '1-2' }]) {
      const answer = await admin.post('/api/sessions/reset', body);
      expect(answer.status, JSON.stringify(body)).toBe(400);
      expect(answer.json.error).toBe('bad_selection');
    }
    expect((await admin.post('/api/sessions/reset', { ports: [proxy.ports[0], 1] })).json).toEqual({ error: 'unknown_ports', message: 'not served here: 1' });
    expect((await admin.post('/api/sessions/reset', { mapping: 'nope' })).status).toBe(404);
    expect((await admin.post('/api/sessions/reset', 'not json', { 'content-type': 'text/plain' })).status).toBe(400);
    expect((await admin.get('/api/ports')).json.ports.map((view: { session: unknown }) => view.session)).toEqual(before);
  });

  it('answers wrong methods with 405 and the Allow header it must carry, and unknown paths with 404', async () => {
    // RFC 9110 15.5.6: a 405 lists the methods the path answers; they came without one.
    for (const [answer, allow] of [
      [await admin.get('/api/sessions/reset'), 'POST'],
      [await admin.post('/api/ports'), 'GET'],
      [await admin.post('/metrics'), 'GET'],
      [await admin.post('/api/events'), 'GET'],
    ] as const) {
      expect(answer.status).toBe(405);
      expect(answer.headers.allow).toBe(allow);
    }
    expect((await admin.get('/api/nothing')).status).toBe(404);
  });

  it('answers a body over 64 KiB with 413, not 400 bad_json', async () => {
    const answer = await admin.post('/api/sessions/reset', { ports: [proxy.ports[0]], padding: 'x'.repeat(70_000) });
    expect(answer.status).toBe(413);
    expect(answer.json).toEqual({ error: 'body_too_large', message: 'the body is over 65536 bytes' });
  });
});

describe('what it never does', () => {
  it('shows no secret: not in the summary, the ports, the requests, the metrics or the page', async () => {
    const bodies = await Promise.all(['/api/summary', '/api/ports?limit=1000', '/api/requests', '/metrics', '/', '/app.js'].map((path) => admin.get(path)));
    for (const body of bodies) {
      expect(body.status).toBe(200);
      expect(body.text).not.toMatch(/upsecret|clientsecret|apisecret/);
    }
    expect(bodies[0]!.json.mappings[0].upstream).toBe(`http://customer-acme-session-{session}:***@127.0.0.1:${upstream.port}`);
    expect(proxy.logs.join('\n')).not.toMatch(/upsecret|clientsecret|apisecret/);
  });

  it('never proxies: an absolute-URI request or a CONNECT gets no answer from a target', async () => {
    const absolute = await request(admin.port, `${origin.url}/`);
    expect(absolute.status).toBe(400);
    expect(absolute.body).toContain('not a proxy');
    const before = origin.requests.length;
    const connect = await openTunnel(admin.port, `127.0.0.1:${origin.port}`).catch(() => undefined);
    expect(connect?.status ?? 0).not.toBe(200);
    connect?.socket.destroy();
    expect(origin.requests.length).toBe(before);
  });

  it('answers only requests addressed to a loopback name or itself (DNS rebinding), and no cross-origin POST', async () => {
    const rebound = await admin.get('/api/ports', { host: `evil.example:${admin.port}` });
    expect(rebound.status).toBe(421);
    expect((await admin.get('/api/ports', { host: `localhost:${admin.port}` })).status).toBe(200);
    expect((await admin.get('/api/ports', { host: `[::1]:${admin.port}` })).status).toBe(200);
    const crossSite = await admin.post(`/api/ports/${proxy.ports[0]}/reset`, undefined, { origin: 'http://evil.example' });
    expect(crossSite.status).toBe(403);
    const sameSite = await admin.post(`/api/ports/${proxy.ports[0]}/reset`, undefined, { origin: `http://127.0.0.1:${admin.port}` });
    expect(sameSite.status).toBe(200);
  });
});

describe('with Admin.Token', () => {
  let guarded: RunningProxy & { admin: AdminClient };
  beforeAll(async () => {
    guarded = await startWithAdmin({}, { portCount: 1, token: 'tok-0123456789' });
  });
  afterAll(async () => {
    await guarded?.stop();
  });

  it('needs the bearer token for the API, the events and /metrics; not for the probes and the page', async () => {
    const anonymous = adminClient(guarded.admin.port);
    const wrong = adminClient(guarded.admin.port, 'tok-0123456788');
    for (const path of ['/api/ports', '/api/summary', '/api/events', '/metrics']) {
      const answer = await anonymous.get(path);
      expect(answer.status, path).toBe(401);
      expect(answer.headers['www-authenticate']).toBe('Bearer realm="stickyport admin"');
      expect((await wrong.get(path)).status, path).toBe(401);
    }
    expect((await anonymous.post(`/api/ports/${guarded.ports[0]}/reset`)).status).toBe(401);
    expect((await anonymous.post('/api/reload')).status).toBe(401);
    for (const path of ['/healthz', '/readyz', '/', '/app.js', '/style.css']) expect((await anonymous.get(path)).status, path).toBe(200);
    expect((await guarded.admin.get('/api/ports')).status).toBe(200);
    expect((await guarded.admin.get('/metrics')).status).toBe(200);
    // With a token, a request is not judged by its Host (the token is what protects it).
    expect((await guarded.admin.get('/api/ports', { host: 'stickyport.internal' })).status).toBe(200);
    expect(guarded.logs.join('\n')).not.toContain('tok-0123456789');
  });
});
