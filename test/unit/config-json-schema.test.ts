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
    { Logging: { Requests: 'Errors' } },
    { Logging: { RequestUrls: 'true' } },
    { Admin: { Port: '10200' } },
    { Admin: { Port: 0 } },
    { Admin: { Host: '' } },
    { Metrics: { PerPortLabels: 1 } },
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
    { Logging: { Requests: 'errors', RequestUrls: true } },
    { Admin: { Enabled: true, Host: '::1', Port: 9000, Token: '' }, Metrics: { PerPortLabels: true } },
    { Admin: { Enabled: true, Port: 'auto' } },
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
