import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';

function folderWith(files: Record<string, unknown>): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'stickyport-config-'));
  for (const [name, content] of Object.entries(files)) writeFileSync(path.join(dir, name), JSON.stringify(content));
  return dir;
}

function rejection(settings: unknown, env: NodeJS.ProcessEnv = {}): ConfigError {
  try {
    loadConfig({ cwd: folderWith({ 'appsettings.json': settings }), env });
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('the configuration was accepted');
}

describe('configuration', () => {
  it('loads the embedded defaults: 10201-10300 on 127.0.0.1, direct, memory, API off, 10 minutes', () => {
    const config = loadConfig({ cwd: folderWith({}), env: {} });
    expect(config.listen).toMatchObject({ host: '127.0.0.1', portStart: 10201, portEnd: 10300, idleTimeoutMs: 60_000 });
    expect(config.session).toMatchObject({ lifetimeMs: 600_000, idLength: 8 });
    expect(config.upstream.template).toBeUndefined();
    expect(config.upstream.connectTimeoutMs).toBe(10_000);
    expect(config.sessionApi.enabled).toBe(false);
    expect(config.store.type).toBe('memory');
    expect(Object.isFrozen(config)).toBe(true);
  });

  it.each([
    [10, 600_000],
    ['90s', 90_000],
    ['10m', 600_000],
    ['2h', 7_200_000],
    ['1.5', 90_000],
    [0, 0],
  ])('reads StickyProxyLifetime %j as %d ms', (value, ms) => {
    const config = loadConfig({ cwd: folderWith({ 'appsettings.json': { Listen: { StickyProxyLifetime: value } } }), env: {} });
    expect(config.session.lifetimeMs).toBe(ms);
  });

  it.each([
    [{ Listen: { Bogus: 1 } }, 'Listen.Bogus', /unknown key/],
    [{ Listen: { PortRange: { Start: 10300, End: 10201 } } }, 'Listen.PortRange', /reversed/],
    [{ Listen: { PortRange: { Start: 10201, End: 70000 } } }, 'Listen.PortRange.End', /port/],
    [{ Listen: { StickyProxyLifetime: 'soon' } }, 'Listen.StickyProxyLifetime', /unit/],
    [{ Upstream: { Url: 'ftp://u:secretpw@h:21' } }, 'Upstream.Url', /scheme "ftp"/],
    [{ Upstream: { Url: 'http://u:secretpw@h:7777/{bogus}' } }, 'Upstream.Url', /path/],
    [{ Upstream: { Url: 'http://u-{sesion}:secretpw@h:7777' } }, 'Upstream.Url', /unknown placeholder \{sesion\}/],
    [{ SessionStore: { Type: 'mongo' } }, 'SessionStore.Type', /must be one of/],
    [{ Session: { IdLength: 0 } }, 'Session.IdLength', /1-64/],
    [{ Session: { IdAlphabet: 'aa' } }, 'Session.IdAlphabet', /distinct/],
    [{ Authentication: { Required: true } }, 'Authentication.Username', /Username and Password/],
  ])('rejects %j naming %s', (settings, key, problem) => {
    const error = rejection(settings);
    expect(error.keys).toContain(key);
    expect(error.message).toContain(key);
    expect(error.message).toMatch(problem);
    // A rejected upstream URL is never echoed back: it may hold the provider password.
    expect(error.message).not.toContain('secretpw');
  });

  it('refuses a public listen address without client authentication, naming both keys', () => {
    const error = rejection({ Listen: { Host: '0.0.0.0' } });
    expect(error.message).toContain('Listen.Host');
    expect(error.message).toContain('Authentication.Required');
    expect(error.message).toContain('Listen.AllowUnauthenticatedPublic');
    const allowed = loadConfig({
      cwd: folderWith({ 'appsettings.json': { Listen: { Host: '0.0.0.0', AllowUnauthenticatedPublic: true } } }),
      env: {},
    });
    expect(allowed.listen.host).toBe('0.0.0.0');
  });

  it('layers appsettings.json < appsettings.<NODE_ENV>.json < environment < --config', () => {
    const cwd = folderWith({
      'appsettings.json': { Listen: { PortRange: { Start: 11000, End: 11009 } }, Logging: { Level: 'info' } },
      'appsettings.staging.json': { Listen: { PortRange: { End: 11004 } }, SessionAPI: { Enabled: true } },
      'override.json': { SessionAPI: { Domain: 'fromfile' } },
    });
    const env = { NODE_ENV: 'staging', STICKYPORT_LOG_LEVEL: 'warn', STICKYPORT_SESSION_API_DOMAIN: 'fromenv', STICKYPORT_PORT_START: '11001' };
    const layered = loadConfig({ cwd, env });
    expect(layered).toMatchObject({
      listen: { portStart: 11001, portEnd: 11004 },
      sessionApi: { enabled: true, domain: 'fromenv' },
      logLevel: 'warn',
    });
    expect(loadConfig({ cwd, env, configPath: 'override.json' }).sessionApi.domain).toBe('fromfile');
  });

  it('names the file when --config is missing or not JSON', () => {
    const cwd = folderWith({});
    writeFileSync(path.join(cwd, 'broken.json'), '{ "Listen": ');
    expect(() => loadConfig({ cwd, env: {}, configPath: 'missing.json' })).toThrow(/missing\.json does not exist/);
    expect(() => loadConfig({ cwd, env: {}, configPath: 'broken.json' })).toThrow(/broken\.json is not valid JSON/);
  });

  it('rejects a bad value from the environment, naming the key', () => {
    const error = rejection({}, { STICKYPORT_PORT_END: 'lots' });
    expect(error.keys).toContain('Listen.PortRange.End');
  });
});
