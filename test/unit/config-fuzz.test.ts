import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { RawText, load, refusal, type Layers } from './config-fixtures.js';

// Each case is one bad value that stickyport used to coerce, accept or crash on. Every one must
// be refused with a ConfigError naming the key (and the variable or file it came from), saying
// what would be accepted, without a stack trace and without the secret it may hold.

type Case = [what: string, layers: Layers, key: string, says: RegExp];

const inFile = (settings: unknown): Layers => ({ config: settings });
const port = (value: unknown): Layers => inFile({ Listen: { PortRange: { Start: value, End: 20500 } } });
const idLength = (value: unknown): Layers => inFile({ Session: { IdLength: value } });
const lifetime = (value: unknown): Layers => inFile({ Listen: { StickyProxyLifetime: value } });
const alphabet = (value: unknown): Layers => inFile({ Session: { IdAlphabet: value } });
const redisUrl = (value: unknown): Layers => inFile({ SessionStore: { RedisUrl: value } });

const TIMEOUTS: Array<[key: string, section: string, name: string, env: string]> = [
  ['Listen.IdleTimeout', 'Listen', 'IdleTimeout', 'STICKYPORT_IDLE_TIMEOUT'],
  ['Listen.HeadersTimeout', 'Listen', 'HeadersTimeout', 'STICKYPORT_HEADERS_TIMEOUT'],
  ['Upstream.ConnectTimeout', 'Upstream', 'ConnectTimeout', 'STICKYPORT_UPSTREAM_CONNECT_TIMEOUT'],
  ['Upstream.ResponseTimeout', 'Upstream', 'ResponseTimeout', 'STICKYPORT_UPSTREAM_RESPONSE_TIMEOUT'],
  ['Upstream.PoolIdleTimeout', 'Upstream', 'PoolIdleTimeout', 'STICKYPORT_UPSTREAM_POOL_IDLE_TIMEOUT'],
];

const timeoutCases: Case[] = TIMEOUTS.flatMap(([key, section, name, env]): Case[] => {
  const set = (value: unknown): Layers => inFile({ [section]: { [name]: value } });
  return [
    [`${key} 0`, set(0), key, /above 0.*"no limit"/],
    [`${key} "0s"`, set('0s'), key, /above 0.*"no limit"/],
    [`${key} ${env}=0`, { env: { [env]: '0' } }, key, new RegExp(`${env}.*above 0`)],
    [`${key} "0.0001ms" (rounds to 0)`, set('0.0001ms'), key, /at least 1 ms/],
    [`${key} 2^31 ms`, set(`${2 ** 31}ms`), key, /at most 24\.8 days \(2147483647 ms/],
    [`${key} 2147484 s`, set(2_147_484), key, /at most 24\.8 days/],
    [`${key} "25d"`, set('25d'), key, /at most/],
    [`${key} 1e308`, set(1e308), key, /at most/],
    [`${key} -1`, set(-1), key, /above 0/],
    [`${key} "10 min"`, set('10 min'), key, /number of seconds, or a string with a unit/],
    [`${key} true`, set(true), key, /number of seconds/],
  ];
});

const CASES: Case[] = [
  // Ports: integers 1-65535; digit strings only from the environment.
  ['port "20400abc" in a file', port('20400abc'), 'Listen.PortRange.Start', /integer 1-65535/],
  ['port "20400" as a JSON string', port('20400'), 'Listen.PortRange.Start', /integer 1-65535 \(a JSON number: write it without quotes\)/],
  ['port 1.5', port(1.5), 'Listen.PortRange.Start', /integer 1-65535/],
  ['port -1', port(-1), 'Listen.PortRange.Start', /integer 1-65535/],
  ['port 0', port(0), 'Listen.PortRange.Start', /integer 1-65535/],
  ['port 70000', port(70000), 'Listen.PortRange.Start', /integer 1-65535/],
  ['port null', port(null), 'Listen.PortRange.Start', /integer 1-65535/],
  ['STICKYPORT_PORT_START=20400abc', { env: { STICKYPORT_PORT_START: '20400abc' } }, 'Listen.PortRange.Start', /STICKYPORT_PORT_START.*integer 1-65535/],
  ['STICKYPORT_PORT_START=abc', { env: { STICKYPORT_PORT_START: 'abc' } }, 'Listen.PortRange.Start', /STICKYPORT_PORT_START.*integer 1-65535/],
  ['STICKYPORT_PORT_START=1.5', { env: { STICKYPORT_PORT_START: '1.5' } }, 'Listen.PortRange.Start', /STICKYPORT_PORT_START/],
  ['STICKYPORT_PORT_START=-1', { env: { STICKYPORT_PORT_START: '-1' } }, 'Listen.PortRange.Start', /STICKYPORT_PORT_START/],
  ['STICKYPORT_PORT_END=70000', { env: { STICKYPORT_PORT_END: '70000' } }, 'Listen.PortRange.End', /STICKYPORT_PORT_END.*integer 1-65535/],
  ['STICKYPORT_PORT_END=""', { env: { STICKYPORT_PORT_END: '' } }, 'Listen.PortRange.End', /STICKYPORT_PORT_END/],
  ['reversed range', inFile({ Listen: { PortRange: { Start: 20500, End: 20400 } } }), 'Listen.PortRange', /reversed/],

  // Session ids.
  ['IdLength "8abc"', idLength('8abc'), 'Session.IdLength', /integer 1-64/],
  ['IdLength "8"', idLength('8'), 'Session.IdLength', /integer 1-64 \(a JSON number/],
  ['IdLength 0', idLength(0), 'Session.IdLength', /integer 1-64/],
  ['IdLength 65', idLength(65), 'Session.IdLength', /integer 1-64/],
  ['IdLength 2.5', idLength(2.5), 'Session.IdLength', /integer 1-64/],
  ['STICKYPORT_SESSION_ID_LENGTH=8abc', { env: { STICKYPORT_SESSION_ID_LENGTH: '8abc' } }, 'Session.IdLength', /STICKYPORT_SESSION_ID_LENGTH/],
  ['IdAlphabet with "-"', alphabet('abc-'), 'Session.IdAlphabet', /A-Z a-z 0-9 _.*split on "-".*"-"/],
  ['IdAlphabet with ":"', alphabet('abc:'), 'Session.IdAlphabet', /not allowed: ":"/],
  ['IdAlphabet with "@"', alphabet('abc@'), 'Session.IdAlphabet', /not allowed: "@"/],
  ['IdAlphabet with "%"', alphabet('abc%'), 'Session.IdAlphabet', /not allowed: "%"/],
  ['IdAlphabet with a space', alphabet('ab c'), 'Session.IdAlphabet', /not allowed: " "/],
  ['IdAlphabet with "é"', alphabet('abcé'), 'Session.IdAlphabet', /not allowed: "é"/],
  ['IdAlphabet with an emoji', alphabet('ab😀'), 'Session.IdAlphabet', /not allowed/],
  ['IdAlphabet with "."', alphabet('ab.'), 'Session.IdAlphabet', /not allowed: "."/],
  ['IdAlphabet of one character', alphabet('a'), 'Session.IdAlphabet', /at least 2/],
  ['IdAlphabet ""', alphabet(''), 'Session.IdAlphabet', /at least 2/],
  ['IdAlphabet repeating a character', alphabet('abca'), 'Session.IdAlphabet', /"a" is repeated/],
  ['IdAlphabet 42', alphabet(42), 'Session.IdAlphabet', /must be a string/],
  ['STICKYPORT_SESSION_ID_ALPHABET=ab-', { env: { STICKYPORT_SESSION_ID_ALPHABET: 'ab-' } }, 'Session.IdAlphabet', /STICKYPORT_SESSION_ID_ALPHABET.*"-"/],

  // Lifetimes: 0 = never, at most 365 days.
  ['lifetime 1e308', lifetime(1e308), 'Listen.StickyProxyLifetime', /at most 365 days/],
  ['lifetime "1e308"', lifetime('1e308'), 'Listen.StickyProxyLifetime', /number of minutes, or a string with a unit/],
  ['lifetime "366d"', lifetime('366d'), 'Listen.StickyProxyLifetime', /at most 365 days/],
  ['lifetime 525601 minutes', lifetime(525_601), 'Listen.StickyProxyLifetime', /at most 365 days/],
  ['lifetime -1', lifetime(-1), 'Listen.StickyProxyLifetime', /must not be negative/],
  ['lifetime "-5m"', lifetime('-5m'), 'Listen.StickyProxyLifetime', /must not be negative/],
  // -0 is not 0 ("never expires"): a minus sign is a mistake.
  ['lifetime "-0m"', lifetime('-0m'), 'Listen.StickyProxyLifetime', /must not be negative/],
  ['STICKYPORT_STICKY_LIFETIME=-0m', { env: { STICKYPORT_STICKY_LIFETIME: '-0m' } }, 'Listen.StickyProxyLifetime', /must not be negative/],
  ['lifetime "0.0001ms" (rounds to 0, which is "never")', lifetime('0.0001ms'), 'Listen.StickyProxyLifetime', /at least 1 ms/],
  ['lifetime "10 min"', lifetime('10 min'), 'Listen.StickyProxyLifetime', /unit/],
  ['lifetime null', lifetime(null), 'Listen.StickyProxyLifetime', /number of minutes/],
  ['STICKYPORT_STICKY_LIFETIME=1e308', { env: { STICKYPORT_STICKY_LIFETIME: '1e308' } }, 'Listen.StickyProxyLifetime', /STICKYPORT_STICKY_LIFETIME/],
  ...timeoutCases,

  // Connection limits.
  ['MaxConnectionsPerClient -1', inFile({ Listen: { MaxConnectionsPerClient: -1 } }), 'Listen.MaxConnectionsPerClient', /integer >= 0 \(0 = no limit\) or "auto"/],
  ['MaxConnectionsPerClient 1.5', inFile({ Listen: { MaxConnectionsPerClient: 1.5 } }), 'Listen.MaxConnectionsPerClient', /integer >= 0/],
  ['MaxConnectionsPerClient "10"', inFile({ Listen: { MaxConnectionsPerClient: '10' } }), 'Listen.MaxConnectionsPerClient', /without quotes/],
  ['MaxConnectionsPerClient "Auto"', inFile({ Listen: { MaxConnectionsPerClient: 'Auto' } }), 'Listen.MaxConnectionsPerClient', /"auto"/],
  ['MaxConnectionsPerPort true', inFile({ Listen: { MaxConnectionsPerPort: true } }), 'Listen.MaxConnectionsPerPort', /integer >= 0/],
  ['MaxConnectionsPerPort 1e300', inFile({ Listen: { MaxConnectionsPerPort: 1e300 } }), 'Listen.MaxConnectionsPerPort', /integer >= 0/],
  ['STICKYPORT_MAX_CONNECTIONS_PER_CLIENT=-1', { env: { STICKYPORT_MAX_CONNECTIONS_PER_CLIENT: '-1' } }, 'Listen.MaxConnectionsPerClient', /STICKYPORT_MAX_CONNECTIONS_PER_CLIENT/],
  ['STICKYPORT_MAX_CONNECTIONS_PER_PORT=lots', { env: { STICKYPORT_MAX_CONNECTIONS_PER_PORT: 'lots' } }, 'Listen.MaxConnectionsPerPort', /STICKYPORT_MAX_CONNECTIONS_PER_PORT/],

  // Stores.
  ['SessionStore.Path ""', inFile({ SessionStore: { Path: '' } }), 'SessionStore.Path', /non-empty string/],
  ['STICKYPORT_STORE_PATH=""', { env: { STICKYPORT_STORE_PATH: '' } }, 'SessionStore.Path', /STICKYPORT_STORE_PATH.*non-empty/],
  ['RedisUrl that does not parse', redisUrl('redis://:hunter2@[bad'), 'SessionStore.RedisUrl', /does not parse/],
  ['RedisUrl without a scheme', redisUrl('hunter2@127.0.0.1:6379'), 'SessionStore.RedisUrl', /redis:\/\//],
  ['RedisUrl with an http scheme', redisUrl('http://:hunter2@127.0.0.1:6379'), 'SessionStore.RedisUrl', /other schemes/],
  ['RedisUrl with a password as scheme', redisUrl('hunter2:x@127.0.0.1'), 'SessionStore.RedisUrl', /redis:\/\//],
  ['RedisUrl 6379', redisUrl(6379), 'SessionStore.RedisUrl', /redis:\/\//],
  ['SessionStore.Type "mongo"', inFile({ SessionStore: { Type: 'mongo' } }), 'SessionStore.Type', /one of: memory, file, redis/],
  ['STICKYPORT_REDIS_URL=ftp://...', { env: { STICKYPORT_REDIS_URL: 'ftp://u:hunter2@h' } }, 'SessionStore.RedisUrl', /STICKYPORT_REDIS_URL/],

  // Other keys and shapes.
  ['Listen.Host ""', inFile({ Listen: { Host: '' } }), 'Listen.Host', /non-empty/],
  ['Upstream.Url 42', inFile({ Upstream: { Url: 42 } }), 'Upstream.Url', /must be a string/],
  ['Upstream.Url with an unknown placeholder in the password', inFile({ Upstream: { Url: 'http://u:hunter2{x}@h:1' } }), 'Upstream.Url', /unknown placeholder \*\*\*/],
  ['Upstream.Url with an unknown placeholder in the user name', inFile({ Upstream: { Url: 'http://u-{sesion}:hunter2@h:1' } }), 'Upstream.Url', /unknown placeholder \{sesion\}/],
  ['Upstream.Url whose port is the password', inFile({ Upstream: { Url: 'http://user:hunter2' } }), 'Upstream.Url', /TCP port/],
  // No host: the password's placeholders filled with sample values were quoted as the port.
  ['Upstream.Url without a host, a placeholder in the password', inFile({ Upstream: { Url: 'http://acct:hunter2_session-{session}' } }), 'Upstream.Url', /port "\*\*\*" is not a TCP port/],
  ['Upstream.Urls member without a host, a placeholder in the password', inFile({ Upstream: { Urls: ['http://acct:hunter2-{port}'] } }), 'Upstream.Urls[0]', /port "\*\*\*"/],
  // A quote in such a password split the quoting the pieces are found by: the reason is not shown.
  ['Upstream.Url without a host, a quote and a placeholder in the password', inFile({ Upstream: { Url: 'http://acct:\\"hunter2-{session}' } }), 'Upstream.Url', /reason would repeat part of the password, so it is not shown/],
  // No host: a password of digits and then a query or path was read as a port and a path.
  ['Upstream.Url without a host, a password of digits then ?', inFile({ Upstream: { Url: 'http://acct:2024?hunter2' } }), 'Upstream.Url', /usable upstream proxy URL/],
  ['STICKYPORT_UPSTREAM_URL without a host, a password of digits then /', { env: { STICKYPORT_UPSTREAM_URL: 'socks5://acct:99/hunter2' } }, 'Upstream.Url', /STICKYPORT_UPSTREAM_URL/],
  // A port that holds the password's text, or is part of it, is shown as typed: the masked URL shows it anyway.
  ['Upstream.Url whose bad port holds the password', inFile({ Upstream: { Url: 'http://u-{session}:7000@127.0.0.1:70000' } }), 'Upstream.Url', /port "70000" is not a TCP port/],
  ['Upstream.Url whose bad port is part of the password', inFile({ Upstream: { Url: 'http://u-{session}:hunter2ab@127.0.0.1:ab' } }), 'Upstream.Url', /port "ab" is not a TCP port/],
  ['Logging.Level "verbose"', inFile({ Logging: { Level: 'verbose' } }), 'Logging.Level', /one of: fatal, error/],
  ['SessionAPI.Password of spaces only', inFile({ SessionAPI: { Password: '   ' } }), 'SessionAPI.Password', /empty or not spaces only/],
  ['STICKYPORT_SESSION_API_PASSWORD of a no-break space', { env: { STICKYPORT_SESSION_API_PASSWORD: '\u00a0' } }, 'SessionAPI.Password', /STICKYPORT_SESSION_API_PASSWORD/],
  ['Authentication.Password 1234', inFile({ Authentication: { Password: 1234 } }), 'Authentication.Password', /must be a string/],
  ['a section given as a string', inFile({ Listen: 'hunter2' }), 'Listen', /must be a section/],
  ['a nested section given as a number', inFile({ Listen: { PortRange: 10201 } }), 'Listen.PortRange', /must be a section: an object with the keys Start, End/],
  ['a section given as null', inFile({ Session: null }), 'Session', /must be a section/],
  ['a leaf given an object', inFile({ Listen: { Host: { hunter2: 1 } } }), 'Listen.Host', /non-empty string/],
  ['an unknown key', inFile({ Listen: { Bogus: 1 } }), 'Listen.Bogus', /unknown key/],
  ['an unknown section', inFile({ Proxy: { Port: 1 } }), 'Proxy', /unknown key/],
  ['an unknown key named __proto__', { config: new RawText('{ "__proto__": { "Host": "hunter2" } }') }, '__proto__', /unknown key/],
  ['an unknown key named constructor', inFile({ Listen: { constructor: 1 } }), 'Listen.constructor', /unknown key/],
];

describe('bad configuration values', () => {
  it.each(CASES)('%s: refused, naming %s', (_what, layers, key, says) => {
    const error = refusal(layers);
    expect(error.keys).toContain(key);
    expect(error.message).toContain(key);
    expect(error.message).toMatch(says);
    expect(error.message).not.toMatch(/\n\s+at /);
    expect(error.message).not.toContain('hunter2');
    for (const variable of Object.keys(layers.env ?? {})) expect(error.message).toContain(`environment variable ${variable}`);
    if (layers.config !== undefined) expect(error.message).toContain('(from --config override.json)');
  });

  it.each([
    ['[]', 'an array'],
    ['null', 'null'],
    ['42', 'a number'],
    ['"hunter2"', 'a string'],
    ['true', 'a boolean'],
  ])('refuses a config file holding %s, naming the file', (text, kind) => {
    const error = refusal({ config: new RawText(text) });
    expect(error.message).toMatch(/override\.json must hold a JSON object/);
    expect(error.message).toContain(`not ${kind}`);
    expect(error.message).not.toContain('hunter2');
    expect(error.keys[0]).toMatch(/override\.json$/);
  });

  it('refuses the same in appsettings.json', () => {
    expect(refusal({ appsettings: new RawText('[]') }).message).toMatch(/appsettings\.json must hold a JSON object/);
  });

  it('accepts the values just inside every limit', () => {
    const config = load({
      config: {
        Listen: {
          PortRange: { Start: 1, End: 65535 },
          StickyProxyLifetime: '365d',
          IdleTimeout: '2147483647ms',
          HeadersTimeout: '1ms',
          MaxConnectionsPerClient: 0,
          MaxConnectionsPerPort: 100000,
        },
        Session: { IdLength: 64, IdAlphabet: 'aZ09_' },
        Upstream: { ConnectTimeout: 0.001, PoolIdleTimeout: 2147483.647 },
        SessionStore: { RedisUrl: 'rediss://:p@redis.example:6380/2' },
      },
      env: { STICKYPORT_SESSION_ID_LENGTH: '1', STICKYPORT_RESPONSE_TIMEOUT: 'ignored: not a variable of ours' },
    });
    expect(config.listen).toMatchObject({
      portStart: 1,
      portEnd: 65535,
      idleTimeoutMs: 2 ** 31 - 1,
      headersTimeoutMs: 1,
      maxConnectionsPerClient: 0,
      maxConnectionsPerPort: 100000,
    });
    expect(config.session).toMatchObject({ lifetimeMs: 365 * 86_400_000, idLength: 64, idAlphabet: 'aZ09_' });
    expect(config.upstream).toMatchObject({ connectTimeoutMs: 1, poolIdleTimeoutMs: 2 ** 31 - 1 });
    expect(load({ env: { STICKYPORT_SESSION_ID_LENGTH: '1', STICKYPORT_PORT_START: '020400', STICKYPORT_PORT_END: '20401' } }))
      .toMatchObject({ session: { idLength: 1 }, listen: { portStart: 20400 } });
  });

  it('reports every problem of one start-up at once', () => {
    const error = refusal({
      config: { Listen: { PortRange: { Start: 'x' }, IdleTimeout: 0 }, Session: { IdLength: 0 } },
      env: { STICKYPORT_SESSION_API_ENABLED: 'yes' },
    });
    expect(error).toBeInstanceOf(ConfigError);
    expect([...error.keys].sort()).toEqual(['Listen.IdleTimeout', 'Listen.PortRange.Start', 'Session.IdLength', 'SessionAPI.Enabled']);
    expect(error.message.split('\n')).toHaveLength(5);
  });
});
