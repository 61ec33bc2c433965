import { describe, expect, it } from 'vitest';
import type { FlagValue } from '../../src/config/flags.js';
import { explainConfig, loadConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';
import { folderWith } from './config-fixtures.js';

const flag = (name: string, text = 'true'): FlagValue => ({ name, text });

function refusedWith(flags: FlagValue[], env: NodeJS.ProcessEnv = {}): string {
  try {
    loadConfig({ cwd: folderWith({}), env, flags });
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).message;
  }
  throw new Error('the configuration was accepted');
}

describe('configuration flags', () => {
  it('are the last layer: over appsettings.json, the environment and the --config file', () => {
    const cwd = folderWith({
      'appsettings.json': { Listen: { PortRange: { Start: 11000, End: 11009 }, Host: '127.0.0.2' }, Logging: { Level: 'info' } },
      'override.json': { Listen: { PortRange: { Start: 12000, End: 12009 } }, Upstream: { Url: 'http://a-{session}:pw@file.example:1' } },
    });
    const config = loadConfig({
      cwd,
      env: { STICKYPORT_LOG_LEVEL: 'warn', STICKYPORT_STICKY_LIFETIME: '5' },
      configPath: 'override.json',
      flags: [flag('ports', '13000-13004'), flag('upstream', 'socks5://b-{session}:pw@flag.example:1080'), flag('log-level', 'error')],
    });
    expect(config.listen).toMatchObject({ host: '127.0.0.2', portStart: 13000, portEnd: 13004 });
    expect(config.upstream.template).toMatchObject({ protocol: 'socks5:', hostname: 'flag.example', username: 'b-{session}' });
    expect(config.logLevel).toBe('error');
    expect(config.session.lifetimeMs).toBe(300_000);
    expect(config.sources.at(-1)).toBe('flags');
  });

  it('read each common key', () => {
    const config = loadConfig({
      cwd: folderWith({}),
      env: {},
      flags: [flag('ports', '10500'), flag('host', 'localhost'), flag('lifetime', '90s'), flag('session-api'), flag('store', 'file:/tmp/s.json')],
    });
    expect(config.listen).toMatchObject({ host: 'localhost', portStart: 10500, portEnd: 10500 });
    expect(config.session.lifetimeMs).toBe(90_000);
    expect(config.sessionApi.enabled).toBe(true);
    expect(config.store).toMatchObject({ type: 'file', path: '/tmp/s.json' });
  });

  it.each([
    ['memory', { type: 'memory' }],
    ['file', { type: 'file', path: 'data/sessions.json' }],
    ['redis', { type: 'redis', redisUrl: 'redis://127.0.0.1:6379' }],
    ['rediss://cache.example:6380', { type: 'redis', redisUrl: 'rediss://cache.example:6380' }],
  ])('take --store %s', (text, store) => {
    expect(loadConfig({ cwd: folderWith({}), env: {}, flags: [flag('store', text)] }).store).toMatchObject(store);
  });

  it('take --upstream direct (or "") to mean no upstream, over one from a file', () => {
    const cwd = folderWith({ 'appsettings.json': { Upstream: { Url: 'http://a-{session}:pw@gate.example:1' } } });
    expect(loadConfig({ cwd, env: {}, flags: [flag('upstream', 'direct')] }).upstream.template).toBeUndefined();
    expect(loadConfig({ cwd, env: {}, flags: [flag('upstream', '')] }).upstream.template).toBeUndefined();
  });

  it('let a later flag win over an earlier one', () => {
    const config = loadConfig({ cwd: folderWith({}), env: {}, flags: [flag('ports', '1-2'), flag('ports', '3000-3001')] });
    expect(config.listen.portStart).toBe(3000);
  });

  it('name the flag in a problem, with the value and what is accepted', () => {
    expect(refusedWith([flag('ports', '10201..10300')])).toBe(
      'invalid configuration:\n  Listen.PortRange = "10201..10300" (from flag --ports): ' +
        'must be a range of ports FIRST-LAST such as 10201-10300, or one port',
    );
    expect(refusedWith([flag('ports', '0-70000')])).toContain('Listen.PortRange.Start = 0 (from flag --ports): must be a port number');
    expect(refusedWith([flag('ports', '10300-10201')])).toContain(
      'End 10201 (from flag --ports) is below Start 10300 (from flag --ports): the range is reversed',
    );
    expect(refusedWith([flag('lifetime', '10 min')])).toMatch(/Listen.StickyProxyLifetime = "10 min" \(from flag --lifetime\): must be a number of minutes/);
    expect(refusedWith([flag('store', 'mongo')])).toContain('SessionStore.Type = "mongo" (from flag --store): must be memory, file, file:PATH, redis');
    expect(refusedWith([flag('store', 'Redis')])).toMatch(/SessionStore.Type = "Redis" \(from flag --store\): must be .*; did you mean redis\?$/);
    expect(refusedWith([flag('store', 'memroy')])).toMatch(/did you mean memory\?$/);
    // A URL of another database says nothing of what it holds.
    expect(refusedWith([flag('store', 'mongodb://u:pw@db:27017')])).not.toContain('did you mean');
    expect(refusedWith([flag('store', 'file:')])).toContain('SessionStore.Path = "" (from flag --store): must be a non-empty string');
    expect(refusedWith([flag('log-level', 'loud')])).toContain('Logging.Level = "loud" (from flag --log-level): must be one of');
    expect(refusedWith([flag('log-level', 'debg')])).toMatch(/Logging.Level = "debg" \(from flag --log-level\): must be one of: .*; did you mean debug\?$/);
    expect(refusedWith([flag('log-level', 'loud')])).not.toContain('did you mean');
    expect(refusedWith([flag('host', '0.0.0.0')])).toContain('Listen.Host = "0.0.0.0" (from flag --host): is not a loopback address');
  });

  it('mask the secrets a flag carries in every message', () => {
    const upstream = refusedWith([flag('upstream', 'ftp://acme-{session}:hunter2@gate.example:21')]);
    expect(upstream).toContain('Upstream.Url = "ftp://acme-{session}:***@gate.example:21" (from flag --upstream)');
    const redis = refusedWith([flag('store', 'redis://:hunter2@cache'), flag('ports', 'x')]);
    expect(redis).toContain('(from flag --ports)');
    expect(`${upstream}${redis}`).not.toContain('hunter2');
    const pair = refusedWith([flag('store', 'redis://:hunter2@[::1')]);
    expect(pair).toContain('SessionStore.RedisUrl');
    expect(pair).not.toContain('hunter2');
    expect(refusedWith([flag('store', 'mongodb://admin:hunter2@db:27017')])).toContain(
      'SessionStore.Type = "mongodb://admin:***@db:27017" (from flag --store): must be memory',
    );
  });

  it.each(['redis:/:hunter2@127.0.0.1:6379', 'redis:hunter2@cache', ':hunter2@cache:6379', 'rediss:/cache?password=hunter2'])(
    'mask a mistyped store URL without "://" whole: --store %s',
    (text) => {
      // Only values with "://" were masked: a URL one slash short was printed with its password.
      const message = refusedWith([flag('store', text)]);
      expect(message).toContain('SessionStore.Type = *** (from flag --store): must be memory, file, file:PATH, redis');
      expect(message).not.toContain('hunter2');
    },
  );

  it('show a --store value that is no URL attempt as it is', () => {
    expect(refusedWith([flag('store', 'memroy')])).toContain('SessionStore.Type = "memroy" (from flag --store)');
  });
});

describe('explainConfig', () => {
  it('says where each value came from, with every secret masked', () => {
    const cwd = folderWith({ 'appsettings.json': { SessionAPI: { Enabled: true, Password: 'apisecret' } }, 'my.json': { Session: { IdLength: 12 } } });
    const report = explainConfig({
      cwd,
      env: { STICKYPORT_AUTH_REQUIRED: 'true', STICKYPORT_AUTH_USERNAME: 'me', STICKYPORT_AUTH_PASSWORD: 'authsecret' },
      configPath: 'my.json',
      flags: [flag('upstream', 'http://acme-{session}:upsecret@gate.example:7777'), flag('store', 'redis://:redissecret@cache:6379')],
    });
    const row = (key: string) => report.values.find((value) => value.key === key);
    expect(row('Listen.Host')).toEqual({ key: 'Listen.Host', shown: '"127.0.0.1"', origin: 'default' });
    expect(row('SessionAPI.Enabled')).toMatchObject({ shown: 'true', origin: `${cwd}/appsettings.json` });
    expect(row('SessionAPI.Password')).toMatchObject({ shown: '***', origin: `${cwd}/appsettings.json` });
    expect(row('Authentication.Password')).toMatchObject({ shown: '***', origin: 'environment variable STICKYPORT_AUTH_PASSWORD' });
    expect(row('Session.IdLength')).toMatchObject({ shown: '12', origin: '--config my.json' });
    expect(row('Upstream.Url')).toMatchObject({ shown: '"http://acme-{session}:***@gate.example:7777"', origin: 'flag --upstream' });
    expect(row('SessionStore.RedisUrl')).toMatchObject({ shown: '"redis://:***@cache:6379"', origin: 'flag --store' });
    // Every leaf, and one row for each list or object key (empty here).
    expect(report.values).toHaveLength(42 + 7 + 10);
    expect(row('Mappings')).toEqual({ key: 'Mappings', shown: '[]', origin: 'default' });
    expect(JSON.stringify(report.values)).not.toMatch(/apisecret|authsecret|upsecret|redissecret/);
    expect(report.layers).toEqual([
      { name: 'defaults', detail: 'built in' },
      { name: `${cwd}/appsettings.json`, detail: 'read' },
      { name: 'environment', detail: 'STICKYPORT_AUTH_REQUIRED, STICKYPORT_AUTH_USERNAME, STICKYPORT_AUTH_PASSWORD' },
      { name: '--config my.json', detail: `read ${cwd}/my.json` },
      { name: 'flags', detail: '--upstream, --store' },
    ]);
  });

  it('names the files it looked for and did not find', () => {
    const cwd = folderWith({});
    const report = explainConfig({ cwd, env: { NODE_ENV: 'staging' } });
    expect(report.layers).toEqual([
      { name: 'defaults', detail: 'built in' },
      { name: `${cwd}/appsettings.json`, detail: 'not found' },
      { name: `${cwd}/appsettings.staging.json`, detail: 'not found' },
      { name: 'environment', detail: 'no STICKYPORT_* variable it reads is set' },
      { name: 'flags', detail: 'none' },
    ]);
  });
});
