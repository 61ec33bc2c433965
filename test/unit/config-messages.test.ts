import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { maskingOf } from '../../src/config/layers.js';
import { explainConfig, loadConfig } from '../../src/config/load.js';
import { showValue } from '../../src/config/secrets.js';
import { nearestKey } from '../../src/config/problems.js';
import { ConfigError } from '../../src/errors.js';
import { folderWith, load, RawText, refusal } from './config-fixtures.js';

function refusalIn(cwd: string, env: NodeJS.ProcessEnv, configPath?: string): ConfigError {
  try {
    loadConfig({ cwd, env, configPath });
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('the configuration was accepted');
}

/** The message line about `key`. */
function lineAbout(error: ConfigError, key: string, nth = 0): string {
  const line = error.message.split('\n').filter((text) => text.trimStart().startsWith(`${key} `) || text.trimStart().startsWith(`${key}:`))[nth];
  if (!line) throw new Error(`no line about ${key} in:\n${error.message}`);
  return line.trim();
}

describe('configuration messages', () => {
  it('name the layer that set each bad value last: file, NODE_ENV file, environment, --config, default', () => {
    const cwd = folderWith({
      'appsettings.json': { Listen: { IdleTimeout: 0, HeadersTimeout: 0 }, Session: { IdLength: 0 } },
      'appsettings.staging.json': { Listen: { HeadersTimeout: -1 }, Upstream: { ConnectTimeout: 0 } },
      'override.json': { Session: { IdLength: 99 } },
    });
    const env = { NODE_ENV: 'staging', STICKYPORT_UPSTREAM_RESPONSE_TIMEOUT: '0' };
    const error = refusalIn(cwd, env, 'override.json');
    expect(lineAbout(error, 'Listen.IdleTimeout')).toContain(`= 0 (from ${path.join(cwd, 'appsettings.json')}): must be above 0`);
    expect(lineAbout(error, 'Listen.HeadersTimeout', 1)).toContain(`= -1 (from ${path.join(cwd, 'appsettings.staging.json')})`);
    expect(lineAbout(error, 'Upstream.ResponseTimeout')).toContain('= "0" (from environment variable STICKYPORT_UPSTREAM_RESPONSE_TIMEOUT)');
    expect(lineAbout(error, 'Session.IdLength', 1)).toContain('= 99 (from --config override.json): must be an integer 1-64');
    // A bad value is named in its own layer though a later layer sets the key again: the file's
    // HeadersTimeout 0 and IdLength 0 as well as the later -1 and 99 (each would surface once
    // the layer over it went).
    expect(lineAbout(error, 'Listen.HeadersTimeout', 0)).toContain(`= 0 (from ${path.join(cwd, 'appsettings.json')})`);
    expect(lineAbout(error, 'Session.IdLength', 0)).toContain(`= 0 (from ${path.join(cwd, 'appsettings.json')})`);
    const overridden = refusal({ appsettings: { Session: { IdLength: 0 } }, env: { STICKYPORT_SESSION_ID_LENGTH: '8' } });
    expect(lineAbout(overridden, 'Session.IdLength')).toContain('= 0 (from');
    // A rule across keys names where each side came from, defaults included.
    const open = refusal({ config: { Listen: { Host: '0.0.0.0' } } });
    expect(lineAbout(open, 'Listen.Host')).toContain('= "0.0.0.0" (from --config override.json)');
    const auth = refusal({ env: { STICKYPORT_AUTH_REQUIRED: 'true', STICKYPORT_AUTH_USERNAME: 'me' } });
    expect(lineAbout(auth, 'Authentication.Password')).toBe(
      'Authentication.Password = "" (from default): must be set: Authentication.Required is true ' +
        '(from environment variable STICKYPORT_AUTH_REQUIRED), which needs both Username and Password',
    );
  });

  it('are printed once per problem, one problem a line, under one heading', () => {
    const error = refusal({ config: { Listen: { IdleTimeout: '10 min' } } });
    expect(error.message).toBe(
      'invalid configuration:\n' +
        '  Listen.IdleTimeout = "10 min" (from --config override.json): ' +
        'must be a number of seconds, or a string with a unit: "500ms", "30s", "10m", "1h"',
    );
    expect(error.message.match(/10 min/g)).toHaveLength(1);
    expect(error.code).toBe('CONFIG_INVALID');
  });

  it('name the environment variable of a bad value from the environment', () => {
    const error = refusal({ env: { STICKYPORT_PORT_START: 'abc' } });
    expect(error.keys).toEqual(['Listen.PortRange.Start']);
    expect(error.message).toContain(
      'Listen.PortRange.Start = "abc" (from environment variable STICKYPORT_PORT_START): must be a port number, an integer 1-65535, in digits only',
    );
    expect(error.message).not.toContain('0 - 65535');
  });

  it.each([
    ['SessionAPI.Password', { SessionAPI: { Password: 1234 } }, '1234'],
    ['Authentication.Password', { Authentication: { Password: ['hunter2'] } }, 'hunter2'],
    ['Upstream.Url', { Upstream: { Url: 'http://acme-{session}:hunter2@gate:77x' } }, 'hunter2'],
    ['Upstream.Url', { Upstream: { Url: 'http://acme:p@ss:w0rd@gate:77x' } }, 'p@ss:w0rd'],
    ['SessionStore.RedisUrl', { SessionStore: { RedisUrl: 'redis-x://:hunter2@127.0.0.1' } }, 'hunter2'],
    ['SessionStore.RedisUrl', { SessionStore: { RedisUrl: 'http://hunter2@127.0.0.1' } }, 'hunter2'],
  ])('mask %s in %j', (key, settings, secret) => {
    const error = refusal({ config: settings });
    expect(error.keys).toEqual([key]);
    expect(lineAbout(error, key)).toContain('***');
    expect(error.message).not.toContain(secret);
  });

  // ioredis reads the path as the database number with parseInt: `/abc` went to database 0
  // behind unhandled rejections. Only a plain number 0..2^31-1 (SELECT's range) passes.
  it.each(['redis://127.0.0.1:6379/abc', 'redis://127.0.0.1:6379/-1', 'redis://127.0.0.1:6379/3x', 'redis://127.0.0.1:6379/01', 'redis://127.0.0.1:6379/2147483648', 'redis://:hunter2@127.0.0.1:6379/1/2', 'redis://127.0.0.1:6379?db=abc', 'redis://127.0.0.1:6379/1?db=2'])(
    'refuse a Redis URL whose database is not a plain number: %s',
    (url) => {
      const error = refusal({ config: { SessionStore: { Type: 'redis', RedisUrl: url } } });
      expect(error.keys).toEqual(['SessionStore.RedisUrl']);
      expect(lineAbout(error, 'SessionStore.RedisUrl')).toMatch(/^SessionStore\.RedisUrl = ".*" \(from --config override\.json\): must be a URL like redis:.*(database number: \/0 to \/2147483647|give the database once)/);
      expect(error.message).not.toContain('hunter2');
    },
  );

  it.each(['redis://127.0.0.1:6379', 'redis://127.0.0.1:6379/', 'redis://127.0.0.1:6379/0', 'redis://127.0.0.1:6379/15', 'redis://127.0.0.1:6379/99999', 'rediss://:pw@host:6380/2147483647', 'redis://127.0.0.1:6379?db=4'])(
    'accept a Redis URL with no database or a plain number (the server judges its own range): %s',
    (url) => {
      expect(load({ config: { SessionStore: { Type: 'redis', RedisUrl: url } } }).store.redisUrl).toBe(url);
    },
  );

  it('show an upstream URL with only its password masked, so that the rest can be checked', () => {
    const error = refusal({ env: { STICKYPORT_UPSTREAM_URL: 'ftp://acme-{session}:hunter2@gate.example:21' } });
    expect(lineAbout(error, 'Upstream.Url')).toBe(
      'Upstream.Url = "ftp://acme-{session}:***@gate.example:21" (from environment variable STICKYPORT_UPSTREAM_URL): ' +
        'is not a usable upstream proxy URL: scheme "ftp" is not supported (use http, https, socks, socks4, socks4a, socks5, socks5h)',
    );
  });

  it.each([['file', { config: { Upstream: { Url: 'direct' } } }], ['environment', { env: { STICKYPORT_UPSTREAM_URL: 'Direct' } }]] as const)(
    'say that "direct", the --upstream flag\'s word for no upstream, is "" in a %s',
    (_layer, input) => {
      expect(lineAbout(refusal(input), 'Upstream.Url')).toMatch(/: is the --upstream flag's word for no upstream, which only the flag takes: here, no upstream is ""$/);
    },
  );

  // ioredis takes any query item as an option: `?password=...` logs in, and was shown in full.
  it('show a Redis URL with its query values masked, but db and family', () => {
    const url = 'redis://127.0.0.1:6379/x?db=2&family=6&password=RedisPw777&pass%77ord=RedisPw778&username=me';
    const error = refusal({ config: { SessionStore: { Type: 'redis', RedisUrl: url } } });
    expect(lineAbout(error, 'SessionStore.RedisUrl')).toContain(
      '= "redis://127.0.0.1:6379/x?db=2&family=6&password=***&pass%77ord=***&username=***" (from --config override.json)',
    );
    expect(error.message).not.toMatch(/RedisPw77/);
    // A "?" typed inside the password did not end it for the mask.
    for (const typed of ['redis://:pa?ss3cret@127.0.0.1:6379', 'redis://u:pa?db=ss3cret@h:1', 'rediss://:a?b=c&ss3cret@h', 'redis://h:1?password%3Dss3cret', 'redis://:pw@h:1#ss3cret', 'redis://127.0.0.1:6379/?family=4?password=ss3cret', 'redis://h:1?db=1?password=ss3cret']) {
      expect(showValue(typed, maskingOf('SessionStore.RedisUrl'))).not.toContain('ss3cret');
    }
    const checked = explainConfig({ cwd: folderWith({ 'appsettings.json': { SessionStore: { Type: 'redis', RedisUrl: 'rediss://h:6380?password=a@b&db=1' } } }), env: {} });
    const shown = checked.values.find((row) => row.key === 'SessionStore.RedisUrl')!.shown;
    // Read as a login up to the last "@" too (a "?" typed in a password): masked either way.
    expect(shown).toBe('"rediss://h:***&db=1"');
    expect(JSON.stringify([checked.values, checked.layers])).not.toContain('a@b');
  });

  // A section or a record written as a string (a URL one level too high, as ProxyMapService's
  // ProxyServer was) was quoted whole, password included.
  it.each([
    [{ HostRules: [{ Pattern: '*.example.org', Upstream: 'http://user-{session}:TopSecretPw1@gate.example:7777' }] }, 'HostRules[0].Upstream', '"http://user-{session}:***@gate.example:7777"'],
    [{ Mappings: [{ Listen: { Port: 31241 }, Upstream: 'http://user-{session}:TopSecretPw1@gate.example:7777' }] }, 'Mappings[0].Upstream', '"http://user-{session}:***@gate.example:7777"'],
    [{ Mappings: [{ Listen: { Port: 31241 }, Authentication: 'scraper:TopSecretPw1' }] }, 'Mappings[0].Authentication', '"***"'],
    [{ Mappings: ['http://u:TopSecretPw1@h:1'] }, 'Mappings[0]', '"http://u:***@h:1"'],
    [{ HostRules: ['scraper:TopSecretPw1'] }, 'HostRules[0]', '"***"'],
  ])('mask a section written as a string: %j', (config, key, shown) => {
    const error = refusal({ config });
    expect(lineAbout(error, key)).toContain(`${key} = ${shown} (from --config override.json): must be an object`);
    expect(error.message).not.toContain('TopSecretPw1');
  });

  // JSON reads 1e400 as Infinity, which JSON.stringify shows as null: the message named no value.
  it('name a number beyond a double\'s range as such, not as null', () => {
    const error = refusal({ config: new RawText('{ "Listen": { "PortRange": { "Start": 1e400, "End": 1 } } }') });
    expect(lineAbout(error, 'Listen.PortRange.Start')).toContain("= Infinity (beyond a number's range) (from --config override.json)");
  });

  // A flag-only start (--preset) was told to set the account, not where a user without a file can.
  it('name the environment variables that carry a preset\'s account', () => {
    const error = refusal({ env: { STICKYPORT_UPSTREAM_PRESET: 'oxylabs' } });
    expect(lineAbout(error, 'Upstream.Username')).toContain(
      "must be set: Upstream.Preset is oxylabs, which needs the account's user name and password (in a file, or STICKYPORT_UPSTREAM_USERNAME and STICKYPORT_UPSTREAM_PASSWORD)",
    );
  });

  it('mask a password given through the environment', () => {
    const error = refusal({ env: { STICKYPORT_AUTH_REQUIRED: '1', STICKYPORT_AUTH_PASSWORD: 'hunter2' } });
    expect(lineAbout(error, 'Authentication.Username')).toContain('= "" (from default): must be set');
    expect(error.message).not.toContain('hunter2');
  });

  it('never show the value of an unknown key: a mistyped Password key still holds a password', () => {
    const error = refusal({ config: { Authentication: { Pasword: 'hunter2' } } });
    expect(lineAbout(error, 'Authentication.Pasword')).toBe(
      'Authentication.Pasword (from --config override.json): unknown key; did you mean Authentication.Password?',
    );
    expect(error.message).not.toContain('hunter2');
  });

  it.each([
    ['Listen.StickyProxyLifeTime', 'Listen.StickyProxyLifetime'],
    ['Listen.host', 'Listen.Host'],
    ['listen', 'Listen'],
    ['Listen.Hots', 'Listen.Host'],
    ['Lisen', 'Listen'],
    ['Session.IdLenght', 'Session.IdLength'],
    ['Listen.IdleTimeOut', 'Listen.IdleTimeout'],
    ['Listen.IdLength', 'Session.IdLength'],
    ['Upstream.URL', 'Upstream.Url'],
  ])('suggest the nearest key for %s: %s', (typo, meant) => {
    const [section, name] = typo.split('.') as [string, string | undefined];
    const settings = name === undefined ? { [section]: {} } : { [section]: { [name]: 1 } };
    const error = refusal({ config: settings });
    expect(error.keys).toContain(typo);
    expect(lineAbout(error, typo)).toContain(`unknown key; did you mean ${meant}?`);
  });

  it('suggest nothing for a key far from every known one', () => {
    expect(lineAbout(refusal({ config: { Listen: { Bogus: 1 } } }), 'Listen.Bogus')).toMatch(/unknown key$/);
    expect(nearestKey('Completely.Different', ['Listen.Host', 'Session.IdLength'])).toBeUndefined();
  });

  it('prefer the same letters in another case over a nearer edit', () => {
    expect(nearestKey('Listen.HOST', ['Listen.Hist', 'Listen.Host'])).toBe('Listen.Host');
    expect(nearestKey('Listen.Hosts', ['Listen.Host', 'Listen.Hosting'])).toBe('Listen.Host');
    expect(nearestKey('abcdefgh', ['abcd'])).toBeUndefined();
  });

  it('name a --config file that does not exist, and the path as given', () => {
    const error = refusalIn(folderWith({}), {}, 'nowhere.json');
    expect(error.keys).toEqual(['--config']);
    expect(error.message).toMatch(/nowhere\.json does not exist \(given as --config nowhere\.json\)/);
  });

  it('name a config file that is a directory', () => {
    const cwd = folderWith({});
    const error = refusalIn(cwd, {}, '.');
    expect(error.message).toBe(`config file ${cwd} is a directory, not a regular file: settings are read from regular files only, since a reload reads them again (a pipe such as <(...) or /dev/stdin could not be): write them to a file`);
  });

  it('ignore a byte-order mark that a Windows editor put before the JSON', () => {
    const cwd = folderWith({});
    writeFileSync(path.join(cwd, 'appsettings.json'), '\uFEFF{ "Session": { "IdLength": 12 } }');
    expect(loadConfig({ cwd, env: {} }).session.idLength).toBe(12);
  });
});

describe('control characters in text keys', () => {
  // A NUL in SessionStore.Path passed and the file store failed on every write; "127.0.0.1\u0000"
  // bound 127.0.0.1; a CR LF in a preset's user name went into a header.
  it('are refused, naming the key, the value JSON-escaped and the layer', () => {
    const cwd = folderWith({
      'appsettings.json': { SessionStore: { Path: 'data/x\u0000y.json' }, Upstream: { Preset: 'brightdata', Username: 'sp\r\nX', Password: 'pw' } },
      'override.json': { Mappings: [{ Listen: { Host: '127.0.0.1\u0000', Port: 10500 } }] },
    });
    const error = refusalIn(cwd, { STICKYPORT_AUTH_USERNAME: 'a\u0001b', STICKYPORT_LISTEN_HOST: 'local\u007fhost' }, 'override.json');
    const file = path.join(cwd, 'appsettings.json');
    const without = 'without control characters (U+0000-U+001F, U+007F)';
    expect(lineAbout(error, 'SessionStore.Path')).toBe(`SessionStore.Path = "data/x\\u0000y.json" (from ${file}): must be a non-empty string ${without}`);
    expect(lineAbout(error, 'Upstream.Username')).toBe(`Upstream.Username = "sp\\r\\nX" (from ${file}): must be a string ${without}`);
    expect(lineAbout(error, 'Authentication.Username')).toBe(`Authentication.Username = "a\\u0001b" (from environment variable STICKYPORT_AUTH_USERNAME): must be a string ${without}`);
    expect(lineAbout(error, 'Listen.Host')).toBe(`Listen.Host = "local\\u007fhost" (from environment variable STICKYPORT_LISTEN_HOST): must be a non-empty string ${without}`);
    expect(lineAbout(error, 'Mappings[0].Listen.Host')).toBe(`Mappings[0].Listen.Host = "127.0.0.1\\u0000" (from --config override.json): must be a non-empty string ${without}`);
  });

  // URL keys too: a URL parser drops a tab or newline without a word, and a CR LF in an upstream
  // user name would go into a header. (The README said no text value holds one; these did.)
  it('in URL keys are refused, without showing their passwords', () => {
    const error = refusal({
      config: {
        Upstream: { Url: 'http://u-{session}:SECRET1@gate\t.example:8080' },
        SessionStore: { Type: 'redis', RedisUrl: 'redis://:SECRET2@127.0.0.1:6379/\n1' },
        Identity: { EchoUrl: 'http://echo.example/\r\nip' },
      },
    });
    expect(lineAbout(error, 'Upstream.Url')).toMatch(/control character/);
    expect(lineAbout(error, 'SessionStore.RedisUrl')).toMatch(/without control characters/);
    expect(lineAbout(error, 'Identity.EchoUrl')).toMatch(/without control characters/);
    // Admin.Host passed check and failed at start, blaming Listen.Host.
    expect(lineAbout(refusal({ config: { Admin: { Enabled: true, Host: '127.0.0.1\n' } } }), 'Admin.Host')).toMatch(/without control characters/);
    expect(error.message).not.toMatch(/SECRET1|SECRET2/);
  });

  it('in a secret are refused without showing it', () => {
    const error = refusal({ env: { STICKYPORT_AUTH_PASSWORD: 'hunter2\u0007' } });
    expect(lineAbout(error, 'Authentication.Password')).toBe('Authentication.Password = *** (from environment variable STICKYPORT_AUTH_PASSWORD): must be a string without control characters (U+0000-U+001F, U+007F)');
    expect(error.message).not.toContain('hunter2');
  });
});

describe('new keys', () => {
  it('default to 30 s headers, 4 s pool idle, "auto" connection limits and private targets on loopback', () => {
    const config = load({});
    expect(config.listen).toMatchObject({
      headersTimeoutMs: 30_000,
      maxConnectionsPerClient: 'auto',
      maxConnectionsPerPort: 'auto',
      allowPrivateTargets: true,
    });
    expect(config.upstream.poolIdleTimeoutMs).toBe(4_000);
  });

  it('read their values from files and from the environment', () => {
    const fromFile = load({
      config: {
        Listen: { HeadersTimeout: '2m', MaxConnectionsPerClient: 0, MaxConnectionsPerPort: 500, AllowPrivateTargets: false },
        Upstream: { PoolIdleTimeout: 2.5 },
      },
    });
    expect(fromFile.listen).toMatchObject({
      headersTimeoutMs: 120_000,
      maxConnectionsPerClient: 0,
      maxConnectionsPerPort: 500,
      allowPrivateTargets: false,
    });
    expect(fromFile.upstream.poolIdleTimeoutMs).toBe(2_500);
    const fromEnv = load({
      env: {
        STICKYPORT_HEADERS_TIMEOUT: '15',
        STICKYPORT_MAX_CONNECTIONS_PER_CLIENT: '64',
        STICKYPORT_MAX_CONNECTIONS_PER_PORT: 'auto',
        STICKYPORT_ALLOW_PRIVATE_TARGETS: '0',
        STICKYPORT_UPSTREAM_POOL_IDLE_TIMEOUT: '500ms',
      },
    });
    expect(fromEnv.listen).toMatchObject({
      headersTimeoutMs: 15_000,
      maxConnectionsPerClient: 64,
      maxConnectionsPerPort: 'auto',
      allowPrivateTargets: false,
    });
    expect(fromEnv.upstream.poolIdleTimeoutMs).toBe(500);
  });
});
