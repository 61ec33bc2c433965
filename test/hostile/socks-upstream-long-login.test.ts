import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basic, connectStatus, request } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startSocksUpstream, type SocksUpstream } from '../helpers/socks-upstream.js';
import { startStickyport, type RunningProxy } from '../helpers/stickyport.js';
import { SocksRoute } from '../../src/upstream/socks-route.js';
import { parseUpstreamTemplate } from '../../src/upstream/upstream-url.js';
import { StickyportError } from '../../src/errors.js';
import { load, refusal } from '../unit/config-fixtures.js';

// A SOCKS5 login carries each of its user name and password in at most 255 bytes (RFC 1929).
// A longer one, from the template or from parameters a client chose (`/session/new?city=...`),
// made the `socks` library throw a RangeError from inside its socket's data handler: logged as
// "BUG: uncaught exception" on every tunnel, which then hung until Upstream.ConnectTimeout and
// was answered as a timeout. Now a template that long is a configuration error, parameters
// that would make it that long are a 400, and a route that still has one fails at once.

const PREFIX = `customer-${'a'.repeat(180)}`;
let socks: SocksUpstream;
let origin: Origin;
let proxy: RunningProxy;
let port: number;

beforeAll(async () => {
  socks = await startSocksUpstream('pw');
  origin = await startOrigin();
  proxy = await startStickyport(
    {
      Upstream: { Url: `socks5h://${PREFIX}-city-{city}-session-{session}:pw@127.0.0.1:${socks.port}`, Parameters: { city: 'rome' }, ConnectTimeout: '10s' },
      SessionAPI: { Enabled: true },
      Authentication: { ParseUsernameParameters: true },
      Logging: { Level: 'info' },
    },
    { portCount: 2 },
  );
  port = proxy.ports[0]!;
});

afterAll(async () => {
  await proxy?.stop();
  await socks?.close();
  await origin?.close();
});

const bugs = (): string[] => proxy.logs.filter((line) => line.includes('BUG'));

describe('a SOCKS5 upstream whose login parameters would pass 255 bytes', () => {
  it('the session API refuses such values with a 400 and keeps the session', async () => {
    const before = await request(port, 'http://portmapper/session/');
    const answer = await request(port, `http://portmapper/session/new?city=${'b'.repeat(64)}`);
    expect(answer.status).toBe(400);
    expect(answer.body).toMatch(/SOCKS5 user name would be \d+ bytes long: SOCKS5 carries at most 255/);
    expect((await request(port, 'http://portmapper/session/')).body).toBe(before.body);
  });

  it('a proxy login with such values is a 400, and nothing reaches the upstream', async () => {
    const logins = socks.usernames.length;
    const status = await connectStatus(port, `127.0.0.1:${origin.port}`, { 'proxy-authorization': basic(`user-city-${'c'.repeat(64)}`, 'x') });
    expect(status).toBe(400);
    expect(socks.usernames.length).toBe(logins);
  });

  it('values that fit still go out, and no BUG was logged', async () => {
    const status = await connectStatus(port, `127.0.0.1:${origin.port}`, { 'proxy-authorization': basic(`user-city-${'d'.repeat(20)}`, 'x') });
    expect(status).toBe(200);
    expect(socks.usernames.at(-1)).toContain(`-city-${'d'.repeat(20)}-session-`);
    expect(bugs()).toEqual([]);
  });
});

it('a template whose SOCKS5 user name is already over 255 bytes is refused at configuration', () => {
  expect(refusal({ config: { Upstream: { Url: `socks5://${'u'.repeat(260)}-{session}:pw@127.0.0.1:1080` } } }).message).toMatch(/SOCKS5 user name would be 269 bytes long/);
  expect(refusal({ config: { Upstream: { Url: `socks5h://u-{session}:${'p'.repeat(256)}@127.0.0.1:1080` } } }).message).toMatch(/SOCKS5 password would be 256 bytes long/);
  // SOCKS4 has no such length byte, and an HTTP login no such limit.
  expect(() => parseUpstreamTemplate(`socks4a://${'u'.repeat(260)}-{session}@127.0.0.1:1080`)).not.toThrow();
  expect(() => parseUpstreamTemplate(`http://${'u'.repeat(260)}-{session}:pw@127.0.0.1:1080`)).not.toThrow();
  // Measured with the configured id length: 250 bytes and an id of 4 fit.
  expect(load({ config: { Upstream: { Url: `socks5://${'u'.repeat(250)}{session}:pw@127.0.0.1:1080` }, Session: { IdLength: 4 } } }).mappings).toHaveLength(1);
});

it('a template that fits with the sample id but not with an id of Session.IdLength is refused at configuration, not at every request', () => {
  const url = `socks5h://${'u'.repeat(200)}-{session}:SECRETPW@127.0.0.1:1080`;
  expect(load({ config: { Upstream: { Url: url }, Session: { IdLength: 8 } } }).mappings).toHaveLength(1);
  const error = refusal({ config: { Upstream: { Url: url }, Session: { IdLength: 64 } } });
  expect(error.message).toMatch(/Upstream\.Url = .*: with an id of Session\.IdLength \(64\) and the default parameters, the SOCKS5 user name would be 265 bytes long/);
  expect(error.message).not.toContain('SECRETPW');
  // {port} renders the mapping's own highest port: with 8000 this login is 255 bytes, which fits
  // (port 65535 would make it 256); one more byte of template does not.
  const withPort = (length: number) => `socks5h://${'u'.repeat(length)}-{session}-{port}:pw@127.0.0.1:1080`;
  const ports = { Start: 7990, End: 8000 };
  expect(load({ config: { Upstream: { Url: withPort(237) }, Session: { IdLength: 12 }, Listen: { PortRange: ports } } }).mappings).toHaveLength(1);
  expect(refusal({ config: { Upstream: { Url: withPort(238) }, Session: { IdLength: 12 }, Listen: { PortRange: ports } } }).message).toMatch(/256 bytes long/);
});

it('a route that still has such a login (a session stored before the template changed) fails at once, connecting nowhere', async () => {
  let connections = 0;
  const server = net.createServer((socket) => {
    connections++;
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const upstreamPort = (server.address() as net.AddressInfo).port;
  const route = new SocksRoute('id', { protocol: 'socks5h:', hostname: '127.0.0.1', port: upstreamPort, username: 'u'.repeat(300), password: 'pw' }, { connectTimeoutMs: 10_000, responseTimeoutMs: 10_000, poolIdleTimeoutMs: 1_000 } as never);
  try {
    const failure = await route.openTunnel('example.com', 443).then(() => undefined, (error: unknown) => error);
    expect(failure).toBeInstanceOf(StickyportError);
    expect(failure).toMatchObject({ code: 'UPSTREAM_AUTH', message: expect.stringMatching(/300 bytes long.*nothing was sent/) });
    expect(connections).toBe(0);
  } finally {
    route.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});
