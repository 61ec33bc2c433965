import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { appsettingsJsonSchema } from '../../src/config/json-schema.js';
import { load, refusal } from './config-fixtures.js';

// An editor checking appsettings.json against config/appsettings.schema.json should flag what
// the loader refuses, and accept what it accepts, for the rules a JSON Schema can express.

const validate = new Ajv({ strict: true, allErrors: true }).compile(appsettingsJsonSchema());

describe('the JSON Schema and the loader agree', () => {
  it.each([
    { Listen: { AllowUnauthenticatedPublic: 'no' } },
    { SessionAPI: { Enabled: 0 } },
    { Listen: { PortRange: { Start: '20400' } } },
    { Listen: { PortRange: { Start: 0 } } },
    { Listen: { PortRange: { End: 1.5 } } },
    { Listen: { StickyProxyLifetime: 1e308 } },
    { Listen: { StickyProxyLifetime: -1 } },
    { Listen: { IdleTimeout: 0 } },
    { Listen: { HeadersTimeout: 2_147_484 } },
    { Listen: { MaxConnectionsPerClient: -1 } },
    { Listen: { MaxConnectionsPerPort: 'Auto' } },
    { Listen: { AllowPrivateTargets: 'yes' } },
    { Upstream: { PoolIdleTimeout: 'soon' } },
    { Session: { IdLength: 65 } },
    { Session: { IdAlphabet: 'ab-' } },
    { SessionStore: { Path: '' } },
    { SessionStore: { RedisUrl: 'http://127.0.0.1:6379' } },
    { Listen: { StickyProxyLifeTime: 10 } },
    { Listen: { RejectHttpProxy: 'no' } },
    { Mappings: { Name: 'a' } },
    { Mappings: ['a'] },
    { Mappings: [{ Name: 'a b' }] },
    { Mappings: [{ Listen: { Prot: 12000 } }] },
    { Mappings: [{ Listen: { PortRange: { Start: '12000' } } }] },
    { Mappings: [{ Upstream: { Urls: 'http://a:1' } }] },
    { Mappings: [{ Upstream: { Urls: ['ftp://a:1'] } }] },
    { Mappings: [{ Authentication: { ParseUsernameParameters: 1 } }] },
    { Upstream: { Parameters: { Country: 'us' } } },
    { Upstream: { Parameters: { session: 'x' } } },
    { Upstream: { Parameters: { country: 'u-s' } } },
    { Upstream: { Parameters: { country: 1 } } },
    { Upstream: { Preset: 'luminati' } },
    { Upstream: { Port: -1 } },
    { Upstream: { Cooldown: { Refusals: 0 } } },
    { HostRules: [{ Pattern: 'mozilla\\.com$' }] },
    { HostRules: [{ Pattern: '*.example.com', Action: 'deny' }] },
    { HostRules: [{ Pattern: '*.example.com', OverridePort: 0 }] },
    { HostRules: [{ Patern: '*.example.com' }] },
    { HostRules: [{ Pattern: '' }] },
    { Logging: { Requests: 'Errors' } },
    { Logging: { RequestUrls: 'true' } },
    { Admin: { Port: '10200' } },
    { Admin: { Port: 0 } },
    { Admin: { Host: '' } },
    { Metrics: { PerPortLabels: 1 } },
    { Rotation: { Rules: [{ When: { Status: '6xx' } }] } },
    { Rotation: { Rules: [{ When: { Status: [429, 'often'] } }] } },
    { Rotation: { Rules: [{ When: { ConnectStatus: 'closed' } }] } },
    { Rotation: { Rules: [{ When: { Status: 429 }, Action: 'retry' }] } },
    { Rotation: { Rules: [{ When: { Status: 429, Consecutive: 0 } }] } },
    { Rotation: { Rules: [{ When: { Status: 429 }, Cooldown: -1 }] } },
    { Rotation: { Rules: [{ When: { BodyContains: '' } }] } },
    { Rotation: { BodyScanKiB: 2048 } },
    { Identity: { EchoUrl: 'ftp://a/' } },
    { Identity: { EchoUrl: 'http://u:p@a/' } },
    { Session: { KeepAlive: -1 } },
    { SessionAPI: { ExposeSessionHeader: 'yes' } },
  ])('both refuse %j', (settings) => {
    expect(validate(settings)).toBe(false);
    expect(refusal({ config: settings }).keys.length).toBeGreaterThan(0);
  });

  it.each([
    { Listen: { AllowPrivateTargets: 'auto', MaxConnectionsPerClient: 'auto', MaxConnectionsPerPort: 0 } },
    { Listen: { AllowPrivateTargets: false, MaxConnectionsPerClient: 256, HeadersTimeout: '30s' } },
    { Listen: { StickyProxyLifetime: 0, IdleTimeout: 0.5 } },
    { Listen: { StickyProxyLifetime: 525_600 } },
    { Upstream: { PoolIdleTimeout: 4, ConnectTimeout: '250ms' } },
    { Upstream: { Url: 'socks5h://u-{session}:p@h:1080' } },
    { Session: { IdLength: 64, IdAlphabet: 'AZaz09_' } },
    { SessionStore: { RedisUrl: 'rediss://:p@h:6380' } },
    { Listen: { RejectHttpProxy: true }, Authentication: { ParseUsernameParameters: true } },
    { Mappings: [{ Name: 'a', Listen: { Port: 12000, StickyProxyLifetime: '5m' } }, { Listen: { PortRange: { Start: 12001, End: 12002 } } }] },
    { Mappings: [{ Listen: { Port: 12000 }, Upstream: { Urls: ['http://a-{session}:p@a:1', 'socks5h://b-{session}:p@b:1'] } }] },
    { Upstream: { Url: 'http://u-country-{country}-cityname-{city_name}-session-{session}:p@h:1', Parameters: { country: 'us', city_name: '' } } },
    { Upstream: { Preset: 'oxylabs', Username: 'acme', Password: 'pw', Port: 0, Cooldown: { Refusals: 5, Within: '1m', For: 120 } } },
    // An internationalized host: the loader takes it (in its ASCII form), and so must the schema.
    { Upstream: { Preset: 'oxylabs', Username: 'acme', Password: 'pw', Host: 'bücher.example' } },
    { HostRules: [{ Pattern: '*.example.com', Action: 'Bypass' }, { Pattern: '/(www\\.)?example\\.(com|org)/', Action: 'Deny' }] },
    { HostRules: [{ Pattern: 'api.example.com', OverrideHost: '10.0.0.1', OverridePort: 8080, Upstream: { Url: 'http://r-{session}:p@r:1' } }] },
    { Logging: { Requests: 'errors', RequestUrls: true } },
    { Admin: { Enabled: true, Host: '::1', Port: 9000, Token: '' }, Metrics: { PerPortLabels: true } },
    { Admin: { Enabled: true, Port: 'auto' } },
    {
      Rotation: {
        BodyScanKiB: 32,
        Rules: [
          { Name: 'banned', When: { Status: [429, '5xx', '401-403'], Header: { Name: 'cf-mitigated', Value: '/challenge|block/' } }, Action: 'rotate-and-retry', Cooldown: '1m' },
          { When: { BodyContains: 'captcha', ConnectStatus: ['refused', 'Timeout', 403], Consecutive: 3 }, Cooldown: 0 },
        ],
      },
      Mappings: [{ Listen: { Port: 12000 }, Rotation: { Rules: [{ When: { ConnectStatus: 502 }, Action: 'rotate' }] } }],
    },
    { Identity: { EchoUrl: 'https://ifconfig.co/json', CheckOnCreate: true, CheckEvery: '5m', OnDrift: 'rotate', Timeout: 3 }, Session: { KeepAlive: '45s', KeepAliveUrl: 'http://ping.example/' }, SessionAPI: { ExposeSessionHeader: true } },
  ])('both accept %j', (settings) => {
    expect(validate(settings), JSON.stringify(validate.errors)).toBe(true);
    expect(() => load({ config: settings })).not.toThrow();
  });
});

describe('upstream URL schemes', () => {
  // Every scheme the parser knows, its near misses, and other cases of them.
  const candidates = ['http', 'https', 'socks', 'socks4', 'socks4a', 'socks5', 'socks5h', 'HTTP', 'Socks5H', 'socks5a', 'socks4h', 'socksh', 'socks6', 'ftp', 'hTTps', 'sock5'];
  it.each(candidates)('the JSON Schema and the loader agree on %s://', (scheme) => {
    const settings = { Upstream: { Url: `${scheme}://u-{session}:p@gate.example:1080` } };
    let loaderAccepts = true;
    try {
      load({ config: settings });
    } catch {
      loaderAccepts = false;
    }
    expect(validate(settings), `${scheme}: loader ${loaderAccepts ? 'accepts' : 'refuses'}`).toBe(loaderAccepts);
  });
});
