import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileHostPattern } from '../../src/rules/host-pattern.js';
import { request } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { rawExchange, statusOf } from '../helpers/raw.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { socks5Connect } from '../helpers/socks-client.js';
import { startStickyport, upstreamUrl, type RunningProxy } from '../helpers/stickyport.js';
import { refusal } from '../unit/config-fixtures.js';

// One target written many ways. A Deny rule on 127.0.0.1 was passed by `CONNECT 127.1:P`,
// `2130706433`, `0x7f.1`, SOCKS names such as `127.1`, and `http://[::ffff:127.0.0.1]:P/`;
// one on api.test by `%61pi.test` and `api.test..`. Tunnel hosts are now read as plain HTTP's
// are (WHATWG URL), so rules and the private-target check see one spelling; what is no host
// name at all is a 400. A glob of several stars ran as a backtracking regular expression, and
// one long name a client chose held every port for seconds.

let origin: Origin;
let upstream: RecordingUpstream;
let direct: RunningProxy;
let viaUpstream: RunningProxy;

const IPV4_SPELLINGS = ['127.1', '2130706433', '0x7f.1', '0177.0.0.1', '127.0.1', '0x7f000001', '[::ffff:127.0.0.1]', '[::ffff:7f00:1]', '127.0.0.1.'];

beforeAll(async () => {
  origin = await startOrigin();
  upstream = await startRecordingUpstream();
  [direct, viaUpstream] = await Promise.all([
    // Private targets allowed (loopback bind): only the rule stands between a client and 127.0.0.1.
    startStickyport({ HostRules: [{ Pattern: '127.0.0.1', Action: 'Deny' }], Listen: { AllowPrivateTargets: true } }, { portCount: 1 }),
    startStickyport({ Upstream: { Url: upstreamUrl(upstream.port) }, HostRules: [{ Pattern: 'api.test', Action: 'Deny' }, { Pattern: '*-*-*.ads.test', Action: 'Deny' }] }, { portCount: 1 }),
  ]);
});

afterAll(async () => {
  await Promise.all([direct?.stop(), viaUpstream?.stop()]);
  await Promise.all([upstream?.close(), origin?.close()]);
});

const connectTo = (port: number, authority: string): Promise<number> =>
  rawExchange(port, `CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`).then(statusOf);

describe('a Deny rule on an address, against other spellings of it', () => {
  // A 403 and no tunnel (it was a 200 and a tunnel to the origin).
  it.each(IPV4_SPELLINGS)('CONNECT %s: 403', async (host) => {
    expect(await connectTo(direct.ports[0]!, `${host}:${origin.port}`)).toBe(403);
  });

  it.each(['[::ffff:127.0.0.1]', '[::ffff:7f00:1]', '127.1'])('plain http://%s: 403, nothing reached', async (host) => {
    const before = origin.requests.length;
    expect((await request(direct.ports[0]!, `http://${host}:${origin.port}/`)).status).toBe(403);
    expect(origin.requests.length).toBe(before);
  });

  it('the address written plainly: a control, also 403; another address goes through', async () => {
    expect(await connectTo(direct.ports[0]!, `127.0.0.1:${origin.port}`)).toBe(403);
    expect((await request(direct.ports[0]!, `http://localhost:${origin.port}/`)).status).toBe(200);
  });

  it.each(['127.1', '2130706433', '0x7f.1'])('SOCKS5 name %s: reply 0x02', async (host) => {
    const { stage, code, client } = await socks5Connect(direct.ports[0]!, { host, port: origin.port });
    client.destroy();
    expect({ stage, code }).toEqual({ stage: 'reply', code: 0x02 });
  });
});

describe('names through an upstream', () => {
  it.each(['%61pi.test', 'api%2etest', 'API.test', 'api.test.'])('CONNECT %s: the Deny on api.test holds, nothing sent upstream', async (host) => {
    const before = upstream.seen.length;
    expect(await connectTo(viaUpstream.ports[0]!, `${host}:443`)).toBe(403);
    expect(upstream.seen.length).toBe(before);
  });

  // 254 characters is one too many (a trailing dot does not count); the API host, decoded, is no target.
  it.each(['api.test%00', 'api.test..', '.api.test', 'a..b.test', `${'a'.repeat(249)}.test`, `${'-'.repeat(3_000)}x.ads.test`, '%70ortmapper', 'port%6Dapper', '%50ORTMAPPER', 'portmapper%2e'])('CONNECT %s: 400, nothing sent upstream', async (host) => {
    const before = upstream.seen.length;
    expect(await connectTo(viaUpstream.ports[0]!, `${host}:443`)).toBe(400);
    expect(upstream.seen.length).toBe(before);
  });

  // Plain HTTP forwarded these (an adversarial pass): `api.test..` passed the Deny on api.test,
  // and `portmapper..` went to the provider.
  it.each(['api.test..', '.api.test', 'a..b.test', 'portmapper..', '..'])('a plain request to %s, a name with an empty label: 400, nothing sent upstream', async (host) => {
    const before = upstream.seen.length;
    const answer = await rawExchange(viaUpstream.ports[0]!, `GET http://${host}/ HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
    expect(statusOf(answer)).toBe(400);
    expect(upstream.seen.length).toBe(before);
  });

  it.each([`${'a'.repeat(249)}.test`, `${'a'.repeat(300)}.test`])('a plain request to a host over 253 characters (%#): 400, nothing sent upstream', async (host) => {
    const before = upstream.seen.length;
    expect((await request(viaUpstream.ports[0]!, `http://${host}/`)).status).toBe(400);
    expect(upstream.seen.length).toBe(before);
  });

  it('a name the three-star glob matches is denied; one it does not match goes on', async () => {
    expect(await connectTo(viaUpstream.ports[0]!, 'a-b-c.ads.test:443')).toBe(403);
    const before = upstream.seen.length;
    await connectTo(viaUpstream.ports[0]!, 'a-b.ads.test:443');
    expect(upstream.seen.length).toBe(before + 1);
  });
});

describe('glob patterns', () => {
  // The linear matcher against the regular expression it replaces, on every host of a class.
  it('a glob of several stars matches exactly what `*` as "any characters" means', () => {
    const globs = ['*-*-*.ads.test', 'cdn*.ex*.com', 'a*b*c', '*a*', '**x', 'x*', '*.*.*'];
    const hosts = ['a-b-c.ads.test', '--.ads.test', 'a-b.ads.test', 'cdn.ex.com', 'cdn7.example.com', 'cdnex.com', 'abc', 'ac', 'aXbYc', 'cba', 'x', 'xx', 'a.b.c', 'a.b', '', 'a'];
    const wrong: string[] = [];
    for (const glob of globs) {
      const test = compileHostPattern(glob) as (host: string) => boolean;
      const reference = new RegExp(`^${glob.split('*').map((piece) => piece.replace(/[.]/g, '\\.')).join('.*')}$`);
      for (const host of hosts) if (test(host) !== reference.test(host)) wrong.push(`${glob} on ${JSON.stringify(host)}`);
    }
    expect(wrong).toEqual([]);
  });

  it('a pattern with a port is refused: hosts are matched without one (an IPv6 glob with one colon is no port)', () => {
    for (const pattern of ['evil.test:443', '*.star.test:*', '[::1]:443']) {
      const error = refusal({ config: { HostRules: [{ Pattern: pattern, Action: 'Deny' }] } });
      expect(error.message).toContain('matches the host name only, never a port');
    }
    expect((compileHostPattern('fe80:*') as (host: string) => boolean)('fe80::1')).toBe(true);
  });

  it('a trailing dot, brackets and an IPv4-mapped address are matched as the host is', () => {
    const test = (pattern: string) => compileHostPattern(pattern) as (host: string) => boolean;
    expect(test('dot.test.')('dot.test')).toBe(true);
    expect(test('[::1]')('::1')).toBe(true);
    expect(test('::ffff:127.0.0.1')('127.0.0.1')).toBe(true);
  });
});
