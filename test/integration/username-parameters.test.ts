import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basic, openTunnel, request } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { freePortRange } from '../helpers/ports.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { startStickyport, type RunningProxy } from '../helpers/stickyport.js';

// Username parameters: declared with defaults, set from the client's proxy login or from the
// session API, remembered by the session; a login with other parameters starts a new session,
// one without any keeps it; an undeclared name or an unsafe value is a 400 with nothing sent.

let origin: Origin;
let upstream: RecordingUpstream;
let proxy: RunningProxy;
let port: number;
let open: number;

interface SessionAnswer {
  session_id: string;
  parameters: Record<string, string>;
}

const login = (user: string, password = 'pw') => ({ 'proxy-authorization': basic(user, password) });
const session = async (on = port, user = 'scraper'): Promise<SessionAnswer> => {
  const answer = await request(on, 'http://portmapper/session/', { headers: login(user) });
  expect(answer.status, answer.body).toBe(200);
  return JSON.parse(answer.body) as SessionAnswer;
};
const get = (user: string, on = port, password = 'pw') => request(on, `${origin.url}/`, { headers: login(user, password) });
const lastUser = (): string => upstream.seen.at(-1)!.username;

beforeAll(async () => {
  origin = await startOrigin();
  upstream = await startRecordingUpstream();
  const first = await freePortRange(2);
  [port, open] = [first, first + 1];
  const template = `http://customer-acme-country-{country}-city-{city}-session-{session}:secret@127.0.0.1:${upstream.port}`;
  proxy = await startStickyport(
    {
      Upstream: { Url: template, Parameters: { country: 'us', city: '' } },
      Mappings: [
        { Name: 'login', Listen: { Port: port }, Authentication: { Required: true, Username: 'scraper', Password: 'pw', ParseUsernameParameters: true } },
        // No configured user name: the parameters begin at the first -<declared name>-.
        { Name: 'open', Listen: { Port: open }, Authentication: { ParseUsernameParameters: true } },
      ],
    },
    { startPort: first, portCount: 2 },
  );
});

afterAll(async () => {
  await proxy?.stop();
  await upstream?.close();
  await origin?.close();
});

describe('username parameters', () => {
  it('renders the defaults, dropping the segment of a parameter without a value', async () => {
    expect((await get('scraper')).status).toBe(200);
    const { session_id, parameters } = await session();
    expect(lastUser()).toBe(`customer-acme-country-us-session-${session_id}`);
    expect(parameters).toEqual({ country: 'us', city: '' });
  });

  it('takes them from the login: other parameters start a new session, none keep it', async () => {
    const before = (await session()).session_id;
    expect((await get('scraper-country-de-city-berlin')).status).toBe(200);
    const after = await session();
    expect(after.session_id).not.toBe(before);
    expect(after.parameters).toEqual({ country: 'de', city: 'berlin' });
    expect(lastUser()).toBe(`customer-acme-country-de-city-berlin-session-${after.session_id}`);
    // No parameters: the session stays as it is, parameters included.
    expect((await get('scraper')).status).toBe(200);
    expect(lastUser()).toBe(`customer-acme-country-de-city-berlin-session-${after.session_id}`);
    // The same parameters again (names in any case): still the same session.
    expect((await get('scraper-CITY-berlin-country-de')).status).toBe(200);
    expect((await session()).session_id).toBe(after.session_id);
  });

  it('carries them through a CONNECT tunnel too', async () => {
    const tunnel = await openTunnel(port, `127.0.0.1:${origin.port}`, login('scraper-country-fr'));
    expect(tunnel.status).toBe(200);
    tunnel.socket.destroy();
    const { session_id, parameters } = await session();
    expect(parameters).toEqual({ country: 'fr', city: '' });
    expect(upstream.seen.at(-1)).toMatchObject({ kind: 'connect', username: `customer-acme-country-fr-session-${session_id}` });
  });

  it('still checks the password: a login with parameters and a wrong password is a 407', async () => {
    const before = upstream.seen.length;
    expect((await get('scraper-country-de', port, 'wrong')).status).toBe(407);
    expect((await get('intruder-country-de')).status).toBe(407);
    expect(upstream.seen.length).toBe(before);
  });

  it('takes them from the session API: /session/new?country=it', async () => {
    const answer = await request(port, 'http://portmapper/session/new?country=it&city=rome', { headers: login('scraper') });
    const renewed = JSON.parse(answer.body) as SessionAnswer;
    expect(renewed.parameters).toEqual({ country: 'it', city: 'rome' });
    expect((await get('scraper')).status).toBe(200);
    expect(lastUser()).toBe(`customer-acme-country-it-city-rome-session-${renewed.session_id}`);
    // The parameters given are the session's whole set (the others take their defaults);
    // "country=" sets it to no value: its segment goes.
    const none = JSON.parse((await request(port, 'http://portmapper/session/new?country=', { headers: login('scraper') })).body) as SessionAnswer;
    expect(none.parameters).toEqual({ country: '', city: '' });
    await get('scraper');
    expect(lastUser()).toBe(`customer-acme-session-${none.session_id}`);
    // /session/new without parameters keeps the ones the session had.
    await request(port, 'http://portmapper/session/new?city=oslo', { headers: login('scraper') });
    const kept = JSON.parse((await request(port, 'http://portmapper/session/new', { headers: login('scraper') })).body) as SessionAnswer;
    expect(kept.parameters).toEqual({ country: 'us', city: 'oslo' });
  });

  it('never sends a request with other parameters than its login\'s, even when clients of one port disagree at once', async () => {
    const from = upstream.seen.length;
    const countries = Array.from({ length: 24 }, (_, i) => (i % 2 ? 'de' : 'fr'));
    const answers = await Promise.all(countries.map((country, i) => request(port, `${origin.url}/?r=${i}`, { headers: login(`scraper-country-${country}`) })));
    for (const [i, answer] of answers.entries()) {
      // 409 when the port was contested too long; else it left with its own parameters.
      expect([200, 409]).toContain(answer.status);
      if (answer.status === 409) expect(answer.headers['x-stickyport-error']).toBe('PARAMETERS_CONFLICT');
      const seen = upstream.seen.slice(from).find((entry) => entry.target.endsWith(`/?r=${i}`));
      if (answer.status === 200) expect(seen!.username).toContain(`-country-${countries[i]}-`);
      else expect(seen).toBeUndefined();
    }
    expect(answers.filter((answer) => answer.status === 200).length).toBeGreaterThan(0);
  });

  it('splits at the first -<declared name>- when no user name is configured', async () => {
    expect((await get('anyone-country-nl', open)).status).toBe(200);
    const { session_id } = await session(open);
    expect(lastUser()).toBe(`customer-acme-country-nl-session-${session_id}`);
  });

  it.each([
    ['an undeclared name', 'scraper-zip-10115', /"zip", which is not a declared parameter \(declared: country, city\)/],
    ['a "-" in a value', 'scraper-country-de-x', /parameter x|"x", which is not a declared/],
    ['a dangling name', 'scraper-country-de-city', /gives parameter city no value/],
    ['an "@" in a value', 'scraper-country-d@e', /values are 1-64 of A-Z a-z 0-9 _/],
    ['a "%" in a value', 'scraper-country-de%2Dx', /values are 1-64 of A-Z a-z 0-9 _/],
    ['a value too long', `scraper-country-${'a'.repeat(65)}`, /values are 1-64/],
    ['a name twice', 'scraper-country-de-country-fr', /names parameter country twice/],
  ])('refuses %s in the login with a 400, sending nothing', async (_what, user, reason) => {
    const before = upstream.seen.length;
    const id = (await session()).session_id;
    const answer = await get(user);
    expect(answer.status).toBe(400);
    expect(answer.headers['x-stickyport-error']).toBe('BAD_PARAMETER');
    expect(answer.body).toMatch(reason);
    const tunnel = await openTunnel(port, `127.0.0.1:${origin.port}`, login(user));
    expect(tunnel.status).toBe(400);
    tunnel.socket.destroy();
    expect(upstream.seen.length).toBe(before);
    expect((await session()).session_id).toBe(id);
  });

  it.each([
    ['an undeclared name', '/session/new?zip=10115', /"zip" is not a declared parameter/],
    ['a ":" in a value', '/session/new?country=de:x', /values are empty or 1-64/],
    ['a "-" in a value', '/session/new?country=de-x', /values are empty or 1-64/],
    ['an "@" in a value', '/session/new?country=de%40x', /values are empty or 1-64/],
    ['a "%" in a value', '/session/new?country=de%25', /values are empty or 1-64/],
    // As a login naming a parameter twice is refused: which value would the caller mean?
    ['a name given twice', '/session/new?country=de&country=fr', /parameter country is given twice/],
  ])('refuses %s in the API query with a 400, keeping the session', async (_what, path, reason) => {
    const id = (await session()).session_id;
    const answer = await request(port, `http://portmapper${path}`, { headers: login('scraper') });
    expect(answer.status).toBe(400);
    expect(JSON.parse(answer.body)).toMatchObject({ error: 'bad_parameter', message: expect.stringMatching(reason) });
    expect((await session()).session_id).toBe(id);
  });
});

// A value may hold "_" (Oxylabs writes new_york), but not for an upstream whose login separates
// its fields with "_": iproyal's password, or a template such as acme_country_{country}_session_
// {session}. There `de_session_CHOSEN` put a session id of the client's choosing into the login.
describe('a parameter value holding the separator of its upstream', () => {
  it('is a 400 with nothing sent, from the login and from the session API; elsewhere "_" is a value', async () => {
    const underscored = await startStickyport({
      Upstream: { Url: `http://acme_country_{country}_session_{session}:secret@127.0.0.1:${upstream.port}`, Parameters: { country: 'us' } },
      Authentication: { ParseUsernameParameters: true },
    }, { portCount: 1 });
    try {
      const on = underscored.ports[0]!;
      const before = upstream.seen.length;
      const refused = await request(on, `${origin.url}/`, { headers: login('scraper-country-de_session_CHOSEN') });
      expect(refused.status).toBe(400);
      expect(refused.body).toContain('separates its fields with "_"');
      expect((await request(on, 'http://portmapper/session/new?country=de_session_CHOSEN')).status).toBe(400);
      expect(upstream.seen.length).toBe(before);
      expect((await request(on, `${origin.url}/`, { headers: login('scraper-country-de') })).status).toBe(200);
      expect(upstream.seen.at(-1)!.username).toMatch(/^acme_country_de_session_[A-Za-z]+$/);
    } finally {
      await underscored.stop();
    }
    // The "-" template of this file takes new_york as one value.
    expect((await get('scraper-country-us-city-new_york')).status).toBe(200);
    expect(lastUser()).toMatch(/^customer-acme-country-us-city-new_york-session-/);
  });

  it.each([
    // Percent-encoded "_" around the placeholders is the same separator.
    ['acme%5Fcountry%5F{country}%5Fsession%5F{session}:secret', 400],
    // A "_" before the label of a placeholder separates fields too (s31 I4: `de_session` was let in).
    ['account-session-{session}:secret_country-{country}', 400],
    ['acme_country-{country}-session-{session}:secret', 400],
    // A "_" away from the placeholders (a customer id, a password) separates nothing.
    ['brd-customer-hl_1a2b3c-zone-res-country-{country}-session-{session}:secret', 200],
    ['customer-country-{country}-session-{session}:my_secret', 200],
    // ...nor one before the label of a built-in placeholder (s33 second pass G2).
    ['hl_1a2b-{session}-city-{country}:secret', 200],
    ['acct_zone1-{session}-country-{country}:secret', 200],
  ])('template %s: new_york as a value gets %i', async (userInfo, status) => {
    const password = userInfo.slice(userInfo.lastIndexOf(':') + 1);
    const own = await startRecordingUpstream(password);
    const proxyOf = await startStickyport({
      Upstream: { Url: `http://${userInfo}@127.0.0.1:${own.port}`, Parameters: { country: 'us' } },
      Authentication: { ParseUsernameParameters: true },
    }, { portCount: 1 });
    try {
      expect((await request(proxyOf.ports[0]!, `${origin.url}/`, { headers: login('scraper-country-new_york') })).status).toBe(status);
      expect(own.seen.length).toBe(status === 200 ? 1 : 0);
    } finally {
      await proxyOf.stop();
      await own.close();
    }
  });

  it('the iproyal preset, whose password is split on "_": refused before anything is sent', async () => {
    const iproyal = await startStickyport({
      Upstream: { Preset: 'iproyal', Username: 'account', Password: 'pw', Host: '127.0.0.1', Port: upstream.port },
      Authentication: { ParseUsernameParameters: true },
    }, { portCount: 1 });
    try {
      const before = upstream.seen.length;
      const refused = await request(iproyal.ports[0]!, `${origin.url}/`, { headers: login('scraper-country-us_session_lifetime') });
      expect(refused.status).toBe(400);
      expect(upstream.seen.length).toBe(before);
    } finally {
      await iproyal.stop();
    }
  });
});
