import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { IdentityEvent } from '../../src/identity/identity-events.js';
import { MemorySessionStore } from '../../src/store/memory-store.js';
import { adminClient } from '../helpers/admin.js';
import { apiJson, openTunnel, request } from '../helpers/client.js';
import { startAddressEcho, startExitProvider, type AddressEcho, type ExitProvider } from '../helpers/exit-provider.js';
import { freePort } from '../helpers/ports.js';
import { selfSigned } from '../helpers/self-signed.js';
import { startStickyport, type RunningProxy, type Settings } from '../helpers/stickyport.js';

// The exit identity of each port, judged by a provider that gives every session its own source
// address on 127.77.0.0/16 and an origin that echoes the address it sees.

let provider: ExitProvider;
let echo: AddressEcho;
let proxy: RunningProxy | undefined;

beforeAll(async () => {
  provider = await startExitProvider();
  echo = await startAddressEcho();
});

afterEach(async () => {
  provider.decide = undefined;
  provider.release();
  echo.answer = undefined;
  await proxy?.stop();
  proxy = undefined;
});

afterAll(async () => {
  await provider.close();
  await echo.close();
});

interface SessionAnswer {
  session_id: string;
  exit?: { ip: string; country?: string; seen_at: string };
}

async function start(identity: Record<string, unknown>, more: Settings = {}, options: Parameters<typeof startStickyport>[1] = {}): Promise<RunningProxy> {
  proxy = await startStickyport(
    {
      Upstream: { Url: `http://customer-acme-session-{session}:secret@127.0.0.1:${provider.port}` },
      Identity: { EchoUrl: `${echo.url}/ip`, ...identity },
      ...more,
    },
    { portCount: 2, ...options },
  );
  return proxy;
}

/** Resolves with the first event from now on that `test` accepts. */
function nextEvent<T extends IdentityEvent['type']>(running: RunningProxy, type: T, test: (event: Extract<IdentityEvent, { type: T }>) => boolean = () => true): Promise<Extract<IdentityEvent, { type: T }>> {
  return new Promise((resolve) => {
    const off = running.app.events.on((event) => {
      if (event.type === type && test(event as Extract<IdentityEvent, { type: T }>)) {
        off();
        resolve(event as Extract<IdentityEvent, { type: T }>);
      }
    });
  });
}

describe('exit identity on demand: /session/?ip=1', () => {
  it('answers each port\'s own exit IP, asked through its own session, and keeps it with the session', async () => {
    const store = new MemorySessionStore();
    const { ports: [a, b] } = await start({}, {}, { store });
    const answers = await Promise.all([a!, b!].map((port) => request(port, 'http://portmapper/session/?ip=1')));
    const [first, second] = answers.map((answer) => JSON.parse(answer.body) as SessionAnswer);
    expect(first!.exit!.ip).toBe(provider.addressOf(first!.session_id));
    expect(second!.exit!.ip).toBe(provider.addressOf(second!.session_id));
    expect(first!.exit!.ip).not.toBe(second!.exit!.ip);
    // The provider saw the echo request with the port's own session id.
    const asked = provider.seen.filter((seen) => seen.target === `${echo.url}/ip`);
    expect(asked.map((seen) => seen.session).sort()).toEqual([first!.session_id, second!.session_id].sort());
    // ProxyMapService's headers.
    expect(answers[0]!.headers['x-session-id']).toBe(first!.session_id);
    expect(answers[0]!.headers['x-session-time']).toBe('10');
    expect(new Date(answers[0]!.headers['x-expires-at'] as string).getTime()).toBeGreaterThan(Date.now());
    // Kept with the session in the store, and shown by a plain /session/ afterwards.
    expect((await store.get(a!))?.exit).toMatchObject({ ip: first!.exit!.ip });
    expect((await apiJson<SessionAnswer>(a!, '/session/')).exit).toEqual(first!.exit);
    expect(proxy!.logs.filter((line) => line.includes('"exit identity"'))).toHaveLength(2);
  });

  it('is shown by the admin API, beside the session it belongs to', async () => {
    const adminPort = await freePort();
    const { ports: [port] } = await start({ EchoUrl: `${echo.url}/json` }, { Admin: { Enabled: true, Port: adminPort } });
    const admin = adminClient(adminPort);
    expect((await admin.get(`/api/ports/${port}`)).json.session).toBeNull();
    const { session_id } = await apiJson<SessionAnswer>(port!, '/session/');
    expect((await admin.get(`/api/ports/${port}`)).json.session).toMatchObject({ id: session_id, exit: null });
    echo.countries.set(provider.addressOf(session_id), 'fr');
    await apiJson<SessionAnswer>(port!, '/session/?ip=1');
    const { json: view } = await admin.get(`/api/ports/${port}`);
    expect(view.session.exit).toMatchObject({ ip: provider.addressOf(session_id), country: 'FR' });
    expect(view.session.exit.seenAt).toMatch(/^\d{4}-\d\d-\d\dT/);
  });

  it('takes the country from a JSON echo answer', async () => {
    const { ports: [port] } = await start({ EchoUrl: `${echo.url}/json` });
    const { session_id } = await apiJson<SessionAnswer>(port!, '/session/');
    echo.countries.set(provider.addressOf(session_id), 'de');
    const answer = await apiJson<SessionAnswer>(port!, '/session/?ip=1');
    expect(answer.exit).toMatchObject({ ip: provider.addressOf(session_id), country: 'DE' });
  });

  it('goes through a tunnel on the session\'s route, with TLS inside, for an https:// echo URL', async () => {
    const tls = selfSigned();
    const secure = https.createServer({ key: tls.key, cert: tls.cert }, (req, res) => res.end(req.socket.remoteAddress!.replace(/^::ffff:/, '')));
    await new Promise<void>((resolve) => secure.listen(0, '127.0.0.1', resolve));
    try {
      const { ports: [port] } = await start({ EchoUrl: `https://127.0.0.1:${(secure.address() as AddressInfo).port}/` }, {}, { tls: { ca: tls.cert } });
      const answer = await apiJson<SessionAnswer>(port!, '/session/?ip=1');
      expect(answer.exit!.ip).toBe(provider.addressOf(answer.session_id));
      expect(provider.seen.at(-1)).toMatchObject({ kind: 'connect', session: answer.session_id });
    } finally {
      secure.closeAllConnections();
      secure.close();
    }
  });

  it('answers 502 identity_unavailable when the echo URL fails or answers no IP, and 400 without an echo URL', async () => {
    const { ports: [port] } = await start({ EchoUrl: `${echo.url}/broken` });
    echo.answer = () => ({ status: 200, body: '<html>hello</html>' });
    const garbage = await request(port!, 'http://portmapper/session/?ip=1');
    expect(garbage.status).toBe(502);
    expect(JSON.parse(garbage.body)).toMatchObject({ error: 'identity_unavailable', message: expect.stringContaining('neither an IP address nor JSON') });
    echo.answer = () => ({ status: 503 });
    const failing = await request(port!, 'http://portmapper/session/?ip=1');
    expect(JSON.parse(failing.body).message).toMatch(/answered 503/);
    expect(proxy!.app.events.counts).toMatchObject({ identityChecks: 2, identityCheckFailures: 2 });
    expect(proxy!.logs.join('\n')).not.toContain(':secret@');
    await proxy!.stop();

    const { ports: [other] } = await start({ EchoUrl: '' });
    const off = await request(other!, 'http://portmapper/session/?ip=1');
    expect(off.status).toBe(400);
    expect(JSON.parse(off.body).error).toBe('identity_off');
  });
});

describe('an upstream that refuses the login', () => {
  it("is named for its 407, not the echo service that never saw the request", async () => {
    const { ports: [port] } = await start({}, { Upstream: { Url: `http://customer-acme-session-{session}:wrong@127.0.0.1:${provider.port}` } });
    const answer = await request(port!, 'http://portmapper/session/?ip=1');
    expect(answer.status).toBe(502);
    const { message } = JSON.parse(answer.body) as { message: string };
    expect(message).toContain(`127.0.0.1:${provider.port} answered 407: it rejected the upstream credentials`);
    expect(message).not.toContain(new URL(echo.url).host);
    expect(message).not.toContain('wrong');
  });
});

describe('drift: the same session id answering from another IP', () => {
  it('is logged as a warning and counted, and with OnDrift log the session stays and the new IP is kept', async () => {
    const { ports: [port] } = await start({ OnDrift: 'log' });
    const before = await apiJson<SessionAnswer>(port!, '/session/?ip=1');
    const moved = provider.swap(before.session_id);
    const drift = nextEvent(proxy!, 'drift');
    const after = await apiJson<SessionAnswer>(port!, '/session/?ip=1');
    expect(await drift).toMatchObject({ port, sessionId: before.session_id, from: before.exit!.ip, to: moved, action: 'log' });
    expect(after.session_id).toBe(before.session_id);
    expect(after.exit!.ip).toBe(moved);
    expect(proxy!.app.events.counts.drifts).toBe(1);
    const warning = proxy!.logs.map((line) => JSON.parse(line)).find((entry) => entry.msg.startsWith('exit drift'));
    expect(warning).toMatchObject({ level: 40, port, sessionId: before.session_id, from: before.exit!.ip, to: moved });
    // Once per change: asking again with no change logs nothing new.
    await apiJson(port!, '/session/?ip=1');
    expect(proxy!.app.events.counts.drifts).toBe(1);
  });

  it('with OnDrift rotate, ends the session: the next request leaves with a new id', async () => {
    const { ports: [port] } = await start({ OnDrift: 'rotate' });
    const before = await apiJson<SessionAnswer>(port!, '/session/?ip=1');
    provider.swap(before.session_id);
    const after = await apiJson<SessionAnswer>(port!, '/session/?ip=1');
    expect(after.session_id).not.toBe(before.session_id);
    // The answer to ?ip=1 names the exit of the session it answers with: the new one, asked
    // through its own route (it answered without one).
    expect(after.exit?.ip).toBe(provider.addressOf(after.session_id));
    const from = provider.seen.length;
    await request(port!, `${echo.url}/page`);
    expect(provider.seen[from]!.session).toBe(after.session_id);
    const replaced = proxy!.logs.map((line) => JSON.parse(line)).find((entry) => entry.msg === 'session replaced');
    expect(replaced).toMatchObject({ reason: 'exit drift', previousId: before.session_id, sessionId: after.session_id });
  });

  // The second check failing turned the whole answer into a 502, though the port had rotated.
  it('with OnDrift rotate, answers the new session without exit when its own check fails', async () => {
    const { ports: [port] } = await start({ OnDrift: 'rotate' });
    const before = await apiJson<SessionAnswer>(port!, '/session/?ip=1');
    provider.swap(before.session_id);
    provider.decide = (seen) => (seen.session !== before.session_id ? { status: 502 } : undefined);
    const after = await apiJson<SessionAnswer>(port!, '/session/?ip=1');
    expect(after.session_id).not.toBe(before.session_id);
    expect(after.exit).toBeUndefined();
    expect(proxy!.app.ports.peek(port!)!.session!.id).toBe(after.session_id);
  });

  it('is found by the checks made every Identity.CheckEvery while the port is used, with no API call', async () => {
    const { ports: [port] } = await start({ CheckEvery: '150ms', OnDrift: 'log' });
    const seenFirst = nextEvent(proxy!, 'exit-seen');
    await request(port!, `${echo.url}/page`);
    const first = await seenFirst;
    expect(first.ip).toBe(provider.addressOf(first.sessionId));
    provider.swap(first.sessionId);
    const drift = nextEvent(proxy!, 'drift');
    // Traffic keeps coming; once the last check is 150 ms old, the next request starts one.
    const timer = setInterval(() => void request(port!, `${echo.url}/page`).catch(() => undefined), 50);
    try {
      expect(await drift).toMatchObject({ sessionId: first.sessionId, from: first.ip, to: provider.addressOf(first.sessionId) });
    } finally {
      clearInterval(timer);
    }
  });

  it('Identity.CheckOnCreate asks as soon as the port starts using a session, on CONNECT too', async () => {
    const { ports: [port] } = await start({ CheckOnCreate: true });
    const seen = nextEvent(proxy!, 'exit-seen');
    const tunnel = await openTunnel(port!, `127.0.0.1:${echo.port}`);
    expect(tunnel.status).toBe(200);
    tunnel.socket.destroy();
    const event = await seen;
    expect(event).toMatchObject({ port, ip: provider.addressOf(event.sessionId) });
    expect(provider.seen.some((seen) => seen.session === event.sessionId && seen.target === `${echo.url}/ip`)).toBe(true);
  });
});
