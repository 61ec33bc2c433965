import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiJson, basic, closed, getThroughTunnel, openTunnel, request } from '../helpers/client.js';
import { socks5Connect } from '../helpers/socks-client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { startStickyport, type RunningProxy } from '../helpers/stickyport.js';
import { startTcpGate, type TcpGate } from '../helpers/tcp-gate.js';

// A tunnel whose upstream side was still opening when the port rotated goes out again on the
// port's session now (way-out.ts openTunnelFor). When the rotation gave the port other
// parameters (another client's login, /session/new?country=fr), the tunnel must go out again
// with the parameters of *its own* login, never with the other client's: a login asking for
// country de must never leave with country fr.


let origin: Origin;
let upstream: RecordingUpstream;
let gate: TcpGate;
let proxy: RunningProxy;

beforeAll(async () => {
  origin = await startOrigin();
  upstream = await startRecordingUpstream();
  gate = await startTcpGate(upstream.port, { held: true });
  gate.release();
  proxy = await startStickyport(
    {
      Upstream: { Url: `http://customer-acme-country-{country}-session-{session}:secret@127.0.0.1:${gate.port}`, Parameters: { country: 'us' } },
      Authentication: { Username: 'scraper', Password: 'pw', ParseUsernameParameters: true },
      Logging: { Level: 'warn' },
    },
    { portCount: 1 },
  );
});

afterAll(async () => {
  await proxy?.stop();
  await gate?.close();
  await upstream?.close();
  await origin?.close();
});

const countryOf = (username: string): string | undefined => /-country-([^-]+)-/.exec(username)?.[1];

describe('a tunnel sent out again after a rotation keeps its login parameters', () => {
  it('CONNECT with login country de, /session/new?country=fr while its upstream side opens: never out with fr', async () => {
    const port = proxy.ports[0]!;
    const de = { 'proxy-authorization': basic('scraper-country-de', 'pw') };
    expect((await request(port, `${origin.url}/warm`, { headers: de })).status).toBe(200);
    expect(countryOf(upstream.seen.at(-1)!.username)).toBe('de');

    gate.hold();
    const authority = `127.0.0.1:${origin.port}`;
    const tunnel = openTunnel(port, authority, de);
    await gate.arrived();
    const { parameters } = await apiJson<{ parameters: Record<string, string> }>(port, '/session/new?country=fr');
    expect(parameters.country).toBe('fr');
    const before = upstream.seen.length;
    gate.release();

    const opened = await tunnel;
    if (opened.status === 200) {
      // Whatever it went out on, it must be a de session.
      await getThroughTunnel(opened.socket, authority, '/inside').catch(() => undefined);
      opened.socket.destroy();
      await closed(opened.socket);
    }
    const connects = upstream.seen.slice(before).filter((entry) => entry.kind === 'connect');
    expect(connects.length).toBeGreaterThan(0);
    for (const entry of connects) expect(countryOf(entry.username), `CONNECT for a de login went out as ${entry.username}`).toBe('de');
  });

  it('SOCKS5 login with country de, /session/new?country=fr while its upstream side opens: never out with fr', async () => {
    const port = proxy.ports[0]!;
    expect((await request(port, `${origin.url}/warm-socks`, { headers: { 'proxy-authorization': basic('scraper-country-de', 'pw') } })).status).toBe(200);
    gate.hold();
    const pending = socks5Connect(port, { host: '127.0.0.1', port: origin.port }, { username: 'scraper-country-de', password: 'pw' });
    await gate.arrived();
    await apiJson(port, '/session/new?country=fr');
    const before = upstream.seen.length;
    gate.release();
    const { stage, code, client } = await pending;
    client.destroy();
    expect({ stage, code }).toEqual({ stage: 'reply', code: 0 });
    const connects = upstream.seen.slice(before).filter((entry) => entry.kind === 'connect');
    expect(connects.length).toBeGreaterThan(0);
    for (const entry of connects) expect(countryOf(entry.username), `SOCKS CONNECT for a de login went out as ${entry.username}`).toBe('de');
  });

  it('a GET with login country de whose connection broke after /session/new?country=fr is sent again as de', async () => {
    const port = proxy.ports[0]!;
    const de = { 'proxy-authorization': basic('scraper-country-de', 'pw') };
    expect((await request(port, `${origin.url}/warm-get`, { headers: de })).status).toBe(200);
    // The warm-up's pooled connection would carry the GET past the gate: rotate it away first.
    await apiJson(port, '/session/new?country=de');
    gate.hold();
    const pending = request(port, `${origin.url}/retried`, { headers: de });
    await gate.arrived();
    await apiJson(port, '/session/new?country=fr');
    gate.drop();
    const answer = await pending;
    expect(answer.status, answer.body).toBe(200);
    const retried = upstream.seen.filter((entry) => entry.target.endsWith('/retried'));
    expect(retried.length).toBe(1);
    expect(countryOf(retried[0]!.username), `the retry went out as ${retried[0]!.username}`).toBe('de');
  });
});
