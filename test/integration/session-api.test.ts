import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiJson, connectStatus, openTunnel, request } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { greeting, RawClient, request5 } from '../helpers/socks-client.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { startStickyport, upstreamUrl, type RunningProxy } from '../helpers/stickyport.js';

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

async function withProxy(overrides: Parameters<typeof startStickyport>[0], body: (proxy: RunningProxy) => Promise<void>) {
  const proxy = await startStickyport({ Upstream: { Url: upstreamUrl(upstream.port) }, ...overrides }, { portCount: 2 });
  try {
    await body(proxy);
  } finally {
    await proxy.stop();
  }
}

describe('session API on the virtual domain', () => {
  it('answers /session with or without the slash, and never reaches the upstream', () =>
    withProxy({}, async ({ ports: [port] }) => {
      const seen = upstream.seen.length;
      const withSlash = await apiJson<{ session_id: string }>(port!, '/session/');
      const without = await apiJson<{ session_id: string }>(port!, '/session');
      expect(without.session_id).toBe(withSlash.session_id);
      const reset = await request(port!, 'http://PortMapper:80/session/reset');
      expect(JSON.parse(reset.body)).toEqual({ success: true });
      expect(reset.headers['content-type']).toMatch(/^application\/json/);
      expect(upstream.seen.length).toBe(seen);
    }));

  // A fragment is the client's own, as on forwarded requests: it was taken for part of the path (404).
  it('answers a call whose URL carries a fragment as the call without it', () =>
    withProxy({}, async ({ ports: [port] }) => {
      const made = await request(port!, 'http://portmapper/session/new#again');
      expect(made.status).toBe(200);
      expect(JSON.parse(made.body)).toHaveProperty('session_id');
    }));

  it('answers a relative call whose URL carries a fragment as the call without it', () =>
    withProxy({ SessionAPI: { Enabled: true, Domain: '' } }, async ({ ports: [port] }) => {
      expect((await request(port!, '/session/#x')).status).toBe(200);
    }));

  // A CONNECT to the API's host was refused before the login was asked: 400 or 404 where a
  // client without a login gets 407 for any other request.
  it.each([true, false])('a CONNECT to its domain without the required login gets 407 first (API on: %s)', (enabled) =>
    withProxy({ SessionAPI: { Enabled: enabled }, Authentication: { Required: true, Username: 'u', Password: 'p' } }, async ({ ports: [port] }) => {
      expect(await connectStatus(port!, 'portmapper:443')).toBe(407);
      expect(await connectStatus(port!, 'portmapper:443', { 'proxy-authorization': `Basic ${Buffer.from('u:p').toString('base64')}` })).toBe(enabled ? 400 : 404);
    }));

  // The admin API's rotations were logged with who asked; the session API's were not.
  it('logs each rotation it makes with who asked and the id it ended', () =>
    withProxy({}, async (proxy) => {
      const port = proxy.ports[0]!;
      const first = await apiJson<{ session_id: string }>(port, '/session/');
      const renewed = await apiJson<{ session_id: string }>(port, '/session/new');
      await apiJson(port, '/session/reset');
      // A second reset finds no session: it changed nothing, and is not logged as a reset.
      await apiJson(port, '/session/reset');
      const lines = proxy.logs.map((line) => JSON.parse(line) as Record<string, unknown>).filter((entry) => String(entry.msg).startsWith('session API: '));
      expect(lines).toEqual([
        expect.objectContaining({ msg: 'session API: new session', port, by: '127.0.0.1', previousId: first.session_id, sessionId: renewed.session_id }),
        expect.objectContaining({ msg: 'session API: session reset', port, by: '127.0.0.1', previousId: renewed.session_id }),
        expect.objectContaining({ msg: 'session API: reset of a port without a session', port, by: '127.0.0.1' }),
      ]);
    }));

  it('answers 404 JSON for an unknown path, 405 for another method, 400 for CONNECT', () =>
    withProxy({}, async ({ ports: [port] }) => {
      const unknown = await request(port!, 'http://portmapper/session/nope');
      expect(unknown.status).toBe(404);
      expect(JSON.parse(unknown.body).error).toBe('not_found');
      const root = await request(port!, 'http://portmapper/');
      expect(root.status).toBe(404);

      const post = await request(port!, 'http://portmapper/session/new', { method: 'POST', body: 'x' });
      expect(post.status).toBe(405);
      expect(post.headers.allow).toBe('GET');

      const tunnel = await openTunnel(port!, 'portmapper:443');
      expect(tunnel.status).toBe(400);
      tunnel.socket.destroy();
    }));

  it('takes a domain written with the root\'s trailing dot as the same host', () =>
    withProxy({ SessionAPI: { Enabled: true, Domain: 'Portmapper.' } }, async ({ ports: [port] }) => {
      const session = await apiJson<{ session_id: string }>(port!, '/session/');
      expect(session.session_id).toMatch(/^[A-Za-z0-9]+$/);
      const from = upstream.seen.length;
      expect((await request(port!, 'http://portmapper/session/new')).status).toBe(200);
      expect(upstream.seen.length).toBe(from);
    }));

  it('answers on the port itself when the domain is empty', () =>
    withProxy({ SessionAPI: { Enabled: true, Domain: '' } }, async ({ ports: [port] }) => {
      const session = await apiJson<{ session_id: string }>(port!, '/session/', '');
      const renewed = await apiJson<{ session_id: string }>(port!, '/session/new', '');
      expect(renewed.session_id).not.toBe(session.session_id);
      const from = upstream.seen.length;
      await request(port!, `${origin.url}/`);
      expect(upstream.seen[from]!.session).toBe(renewed.session_id);
      // Any other relative request is not a proxy request: 400 with a hint.
      const other = await request(port!, '/index.html');
      expect(other.status).toBe(400);
      expect(other.body).toContain('forward proxy');
    }));

  // It was proxied like any other host: a Quick start's call on a start without the API went
  // to the provider, billed, carrying the port's session login, and came back as a 502.
  it('answers the domain 404 when the API is off, and sends nothing upstream (plain HTTP, CONNECT)', () =>
    withProxy({ SessionAPI: { Enabled: false } }, async ({ ports: [port] }) => {
      const from = upstream.seen.length;
      const answer = await request(port!, 'http://portmapper/session/');
      expect(answer.status).toBe(404);
      expect(answer.body).toContain('the session API is off (SessionAPI.Enabled; --session-api turns it on): nothing for portmapper is sent upstream');
      expect(await connectStatus(port!, 'PORTMAPPER.:443')).toBe(404);
      // And a SOCKS5 CONNECT to it: refused as not allowed (0x02).
      const socks = await RawClient.connect(port!);
      try {
        socks.send(greeting(0));
        expect([...(await socks.read(2))]).toEqual([5, 0]);
        socks.send(request5({ host: 'portmapper', port: 80 }));
        expect((await socks.read(2))[1]).toBe(2);
      } finally {
        socks.destroy();
      }
      expect(upstream.seen.length).toBe(from);
      // Any other host still goes out.
      expect((await request(port!, `${origin.url}/`)).status).toBe(200);
    }));

  it('answers a session that never expires with expires_at null', () =>
    withProxy({ Listen: { StickyProxyLifetime: 0 } }, async ({ ports: [port] }) => {
      const session = await apiJson<{ expires_at: string | null; expired: boolean }>(port!, '/session/');
      expect(session).toMatchObject({ expires_at: null, expired: false });
    }));
});
