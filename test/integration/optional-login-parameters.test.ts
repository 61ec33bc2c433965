import { afterAll, beforeAll, expect, it } from 'vitest';
import { basic, request } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { socks5Connect } from '../helpers/socks-client.js';
import { startStickyport, type RunningProxy } from '../helpers/stickyport.js';

// A login configured but not required, with ParseUsernameParameters: a login carrying parameters
// chose the port's session with any password. Anyone could rotate the port and pick its exit
// country with a wrong password (HTTP: 200; SOCKS5: login status 0x00), while SessionAPI.Password
// kept /session/new and the control headers locked. Parameters now count only with the
// configured password: a wrong one is a 407 (SOCKS5: 0x01), and the port's session stays.

let origin: Origin;
let upstream: RecordingUpstream;
let proxy: RunningProxy;
let port: number;

beforeAll(async () => {
  origin = await startOrigin();
  upstream = await startRecordingUpstream();
  proxy = await startStickyport({
    Upstream: { Url: `http://customer-acme-country-{country}-session-{session}:secret@127.0.0.1:${upstream.port}`, Parameters: { country: 'us' } },
    Authentication: { Required: false, Username: 'scraper', Password: 'pw', ParseUsernameParameters: true },
    SessionAPI: { Enabled: true, Password: 'apipw' },
  });
  port = proxy.ports[0]!;
});

afterAll(async () => {
  await proxy?.stop();
  await upstream?.close();
  await origin?.close();
});

const get = (headers: Record<string, string> = {}) => request(port, `${origin.url}/`, { headers });
const sessionId = (): string | undefined => proxy.app.ports.peek(port)?.session?.id;
const countries = (): string[] => upstream.seen.map((seen) => /country-(\w+)-session/.exec(seen.username)?.[1] ?? '');

it('with no login, or a login that is not the configured one, the port serves its session as it is', async () => {
  expect((await get()).status).toBe(200);
  const id = sessionId();
  expect((await get({ 'proxy-authorization': basic('nobody-country-kr', 'x') })).status).toBe(200);
  expect(sessionId()).toBe(id);
  expect(countries()).not.toContain('kr');
});

it('parameters with a wrong password are a 407, and the port keeps its session', async () => {
  const id = sessionId();
  const sent = upstream.seen.length;
  const answer = await get({ 'proxy-authorization': basic('scraper-country-jp', 'WRONG') });
  expect(answer.status).toBe(407);
  expect(sessionId()).toBe(id);
  expect(upstream.seen.length).toBe(sent);
});

it('over SOCKS5 the same login is refused with status 0x01, and nothing changes', async () => {
  const id = sessionId();
  const { stage, code, client } = await socks5Connect(port, { host: '127.0.0.1', port: origin.port }, { username: 'scraper-country-nz', password: 'WRONG' });
  client.destroy();
  expect({ stage, code }).toEqual({ stage: 'login', code: 0x01 });
  expect(sessionId()).toBe(id);
  expect(countries()).not.toContain('nz');
});

it('with the right password the parameters choose the session, as before', async () => {
  const id = sessionId();
  expect((await get({ 'proxy-authorization': basic('scraper-country-jp', 'pw') })).status).toBe(200);
  expect(sessionId()).not.toBe(id);
  expect(countries().at(-1)).toBe('jp');
});
