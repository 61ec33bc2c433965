import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiJson, basic, openTunnel, request } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { startStickyport, type RunningProxy, type Settings } from '../helpers/stickyport.js';

// Per-request control: X-Stickyport-Session: new and X-Stickyport-Session-Params, on plain HTTP
// and on the CONNECT request, judged by the recording upstream (the user names it received and
// the headers it saw, which must never include them).

let origin: Origin;
let upstream: RecordingUpstream;

beforeAll(async () => {
  origin = await startOrigin();
  upstream = await startRecordingUpstream();
});

afterAll(async () => {
  await upstream.close();
  await origin.close();
});

async function withProxy(overrides: Settings, body: (proxy: RunningProxy) => Promise<void>): Promise<void> {
  const proxy = await startStickyport(
    {
      Upstream: { Url: `http://customer-acme-country-{country}-session-{session}:secret@127.0.0.1:${upstream.port}`, Parameters: { country: 'us' } },
      ...overrides,
    },
    { portCount: 1 },
  );
  try {
    await body(proxy);
  } finally {
    await proxy.stop();
  }
}

const controlHeaders = (headers: Record<string, unknown>): string[] => Object.keys(headers).filter((name) => name.startsWith('x-stickyport'));

describe('X-Stickyport-Session and X-Stickyport-Session-Params', () => {
  it('"new" rotates the port before a plain request, which leaves on the new session without the header', () =>
    withProxy({}, async ({ ports: [port] }) => {
      const before = (await apiJson<{ session_id: string }>(port!, '/session/')).session_id;
      const from = upstream.seen.length;
      const answer = await request(port!, `${origin.url}/headers`, { headers: { 'X-Stickyport-Session': 'new' } });
      expect(answer.status).toBe(200);
      const seen = upstream.seen[from]!;
      expect(seen.session).not.toBe(before);
      expect(controlHeaders(seen.headers)).toEqual([]);
      expect(controlHeaders(JSON.parse(answer.body))).toEqual([]);
      expect((await apiJson<{ session_id: string }>(port!, '/session/')).session_id).toBe(seen.session);
    }));

  it('works on the CONNECT request (curl --proxy-header), which never carries it upstream', () =>
    withProxy({}, async ({ ports: [port] }) => {
      const before = (await apiJson<{ session_id: string }>(port!, '/session/')).session_id;
      const from = upstream.seen.length;
      const tunnel = await openTunnel(port!, `127.0.0.1:${origin.port}`, { 'X-Stickyport-Session': 'new', 'X-Stickyport-Session-Params': 'country=de' });
      expect(tunnel.status).toBe(200);
      tunnel.socket.destroy();
      const seen = upstream.seen[from]!;
      expect(seen.kind).toBe('connect');
      expect(seen.session).not.toBe(before);
      expect(seen.username).toBe(`customer-acme-country-de-session-${seen.session}`);
      expect(controlHeaders(seen.headers)).toEqual([]);
    }));

  it('parameters choose this request\'s session (a new one when they differ), as the session API\'s query does', () =>
    withProxy({}, async ({ ports: [port] }) => {
      const from = upstream.seen.length;
      await request(port!, `${origin.url}/`);
      await request(port!, `${origin.url}/`, { headers: { 'X-Stickyport-Session-Params': 'country=de' } });
      await request(port!, `${origin.url}/`, { headers: { 'X-Stickyport-Session-Params': 'country=de' } });
      const [first, second, third] = upstream.seen.slice(from);
      expect(first!.username).toMatch(/^customer-acme-country-us-session-/);
      expect(second!.username).toMatch(/^customer-acme-country-de-session-/);
      expect(second!.session).not.toBe(first!.session);
      expect(third!.session).toBe(second!.session);
      expect(controlHeaders(second!.headers)).toEqual([]);
    }));

  it.each([
    [{ 'X-Stickyport-Session': 'yes' }, 'CONTROL_HEADER', /one value, "new"/],
    [{ 'X-Stickyport-Session-Params': 'zip=10115' }, 'BAD_PARAMETER', /not a declared parameter/],
    [{ 'X-Stickyport-Session-Params': 'country=d-e' }, 'BAD_PARAMETER', /1-64 of A-Z/],
  ])('refuses %j with 400 %s, and nothing goes upstream', (headers, code, says) =>
    withProxy({}, async ({ ports: [port] }) => {
      const from = upstream.seen.length;
      const answer = await request(port!, `${origin.url}/`, { headers });
      expect(answer.status).toBe(400);
      expect(answer.headers['x-stickyport-error']).toBe(code);
      expect(answer.body).toMatch(says);
      const tunnel = await openTunnel(port!, `127.0.0.1:${origin.port}`, headers);
      expect(tunnel.status).toBe(400);
      tunnel.socket.destroy();
      expect(upstream.seen.length).toBe(from);
    }));

  it('refuses the header sent twice', () =>
    withProxy({}, async ({ ports: [port] }) => {
      const answer = await request(port!, `${origin.url}/`, { headers: { 'X-Stickyport-Session': ['new', 'new'] } });
      expect(answer.status).toBe(400);
      expect(answer.body).toMatch(/sent twice/);
    }));

  it('with the session API off, strips and ignores them, malformed or not', () =>
    withProxy({ SessionAPI: { Enabled: false } }, async ({ ports: [port] }) => {
      const from = upstream.seen.length;
      for (const headers of [{}, { 'X-Stickyport-Session': 'new' }, { 'X-Stickyport-Session': 'garbage', 'X-Stickyport-Session-Params': 'zip=1' }]) {
        expect((await request(port!, `${origin.url}/headers`, { headers })).status).toBe(200);
      }
      const seen = upstream.seen.slice(from);
      expect(new Set(seen.map((entry) => entry.session)).size).toBe(1);
      for (const entry of seen) expect(controlHeaders(entry.headers)).toEqual([]);
    }));

  it('with SessionAPI.Password set, needs the proxy login: 403 CONTROL_FORBIDDEN without it', () =>
    withProxy(
      { SessionAPI: { Enabled: true, Password: 'apipw' }, Authentication: { Required: false, Username: 'scraper', Password: 'change-me' } },
      async ({ ports: [port] }) => {
        const from = upstream.seen.length;
        const refused = await request(port!, `${origin.url}/`, { headers: { 'X-Stickyport-Session': 'new' } });
        expect(refused.status).toBe(403);
        expect(refused.headers['x-stickyport-error']).toBe('CONTROL_FORBIDDEN');
        expect(upstream.seen.length).toBe(from);
        await request(port!, `${origin.url}/`, { headers: { 'Proxy-Authorization': basic('scraper', 'change-me') } });
        await request(port!, `${origin.url}/`, { headers: { 'X-Stickyport-Session': 'new', 'Proxy-Authorization': basic('scraper', 'change-me') } });
        const [plain, renewed] = upstream.seen.slice(from);
        expect(renewed!.session).not.toBe(plain!.session);
      },
    ));

  // The README's own advice (SessionAPI.Password on a mapping without a client login) left the
  // 403s asking for a login that does not exist.
  it('with SessionAPI.Password set and no client login, the 403s say what works instead', () =>
    withProxy({ SessionAPI: { Enabled: true, Password: 'apipw' } }, async ({ ports: [port] }) => {
      const refused = await request(port!, `${origin.url}/`, { headers: { 'X-Stickyport-Session': 'new' } });
      expect(refused.status).toBe(403);
      expect(refused.body).toContain('this port has no client login, so they are off on it: use the session API with ?pwd=...');
      const api = await request(port!, 'http://portmapper/session/new');
      expect(api.status).toBe(403);
      expect(JSON.parse(api.body).message).toBe('the session API needs its password: add ?pwd=... (this port has no client login to send instead)');
      expect((await request(port!, 'http://portmapper/session/new?pwd=apipw')).status).toBe(200);
    }));
});
