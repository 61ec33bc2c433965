import { describe, expect, it } from 'vitest';
import type { StickyportConfig } from '../../src/config/load.js';
import { LEAVES } from '../../src/config/layers.js';
import { load, refusal } from './config-fixtures.js';

// convict's Boolean format made every string but "false" true: "no" or 0 opened a public
// proxy. Files now take JSON booleans only; the environment true, false, 1 or 0.

/** Settings under which any of these booleans may be true without another rule objecting. */
const base = { Authentication: { Username: 'user', Password: 'pass' }, Identity: { EchoUrl: 'http://echo.example/' } };

const BOOLEANS: Array<[key: string, env: string, read: (config: StickyportConfig) => boolean]> = [
  ['Listen.AllowUnauthenticatedPublic', 'STICKYPORT_ALLOW_UNAUTHENTICATED_PUBLIC', (c) => c.listen.allowUnauthenticatedPublic],
  ['Listen.RejectHttpProxy', 'STICKYPORT_REJECT_HTTP_PROXY', (c) => c.mappings[0]!.rejectHttpProxy],
  ['Identity.CheckOnCreate', 'STICKYPORT_IDENTITY_CHECK_ON_CREATE', (c) => c.identity.checkOnCreate],
  ['SessionAPI.Enabled', 'STICKYPORT_SESSION_API_ENABLED', (c) => c.sessionApi.enabled],
  ['SessionAPI.PublicRead', 'STICKYPORT_SESSION_API_PUBLIC_READ', (c) => c.sessionApi.publicRead],
  ['SessionAPI.ExposeSessionHeader', 'STICKYPORT_SESSION_API_EXPOSE_SESSION_HEADER', (c) => c.sessionApi.exposeSessionHeader],
  ['Authentication.Required', 'STICKYPORT_AUTH_REQUIRED', (c) => c.auth.required],
  ['Authentication.ParseUsernameParameters', 'STICKYPORT_AUTH_PARSE_USERNAME_PARAMETERS', (c) => c.mappings[0]!.auth.parseUsernameParameters],
  ['Logging.RequestUrls', 'STICKYPORT_LOG_REQUEST_URLS', (c) => c.logging.requestUrls],
  ['Admin.Enabled', 'STICKYPORT_ADMIN_ENABLED', (c) => c.admin.enabled],
  ['Metrics.PerPortLabels', 'STICKYPORT_METRICS_PER_PORT_LABELS', (c) => c.metrics.perPortLabels],
];

/** Booleans with a third value: Logging.Requests is true, false or "errors" (tested below). */
const TRI_STATE = new Set(['request-log']);

function settingsWith(key: string, value: unknown): Record<string, unknown> {
  const [section, name] = key.split('.') as [string, string];
  const baseSection = (base as Record<string, object>)[section] ?? {};
  return { ...base, [section]: { ...baseSection, [name]: value } };
}

describe('boolean keys', () => {
  it('are exactly the keys listed here (a new boolean key must join this test)', () => {
    const booleans = [...LEAVES].filter(([, leaf]) => typeof leaf.default === 'boolean' && !TRI_STATE.has(leaf.format));
    expect(booleans.map(([key, leaf]) => [key, leaf.env])).toEqual(BOOLEANS.map(([key, env]) => [key, env]));
    for (const [, leaf] of booleans) expect(leaf.format).toBe('strict-boolean');
  });

  describe.each(BOOLEANS)('%s', (key, env, read) => {
    it.each([true, false])('takes JSON %s from a file', (value) => {
      expect(read(load({ appsettings: settingsWith(key, value) }))).toBe(value);
      expect(read(load({ config: settingsWith(key, value) }))).toBe(value);
    });

    it.each(['no', 'yes', '0', '1', 'true', 'false', '', 'FALSE ', 0, 1, 2, null, [true], { value: true }])(
      'refuses %j in a file, naming the key and the file',
      (value) => {
        const error = refusal({ config: settingsWith(key, value) });
        expect(error.keys).toEqual([key]);
        expect(error.message).toContain(`${key} = `);
        expect(error.message).toContain('must be true or false');
        expect(error.message).toContain('--config override.json');
      },
    );

    it.each([
      ['true', true],
      ['1', true],
      ['false', false],
      ['0', false],
    ])(`takes ${env}=%s as %s`, (text, value) => {
      expect(read(load({ appsettings: base, env: { [env]: text } }))).toBe(value);
    });

    it.each(['no', 'yes', '', 'FALSE ', 'FALSE', 'True', ' true', '2', '-1', 'on', 'off', '00', 'constructor', '__proto__'])(
      `refuses ${env}=%j, naming the variable`,
      (text) => {
        const error = refusal({ appsettings: base, env: { [env]: text } });
        expect(error.keys).toEqual([key]);
        expect(error.message).toContain(`environment variable ${env}`);
        expect(error.message).toContain('must be true, false, 1 or 0');
      },
    );
  });

  it('STICKYPORT_ALLOW_UNAUTHENTICATED_PUBLIC=0 on 0.0.0.0 is refused as an open proxy, not taken as true', () => {
    const error = refusal({ env: { STICKYPORT_LISTEN_HOST: '0.0.0.0', STICKYPORT_ALLOW_UNAUTHENTICATED_PUBLIC: '0' } });
    expect(error.keys).toEqual(['Listen.Host']);
    expect(error.message).toContain('open proxy');
    expect(error.message).toContain('environment variable STICKYPORT_LISTEN_HOST');
  });

  it('STICKYPORT_SESSION_API_ENABLED=0 leaves the API off', () => {
    expect(load({ env: { STICKYPORT_SESSION_API_ENABLED: '0' } }).sessionApi.enabled).toBe(false);
  });
});

describe('Listen.AllowPrivateTargets', () => {
  it.each([
    ['127.0.0.1', true],
    ['localhost', true],
    ['::1', true],
    ['0.0.0.0', false],
    ['192.168.1.10', false],
  ])('"auto" (the default) on Listen.Host %s is %s', (host, allowed) => {
    const config = load({ config: { ...base, Listen: { Host: host }, Authentication: { ...base.Authentication, Required: true } } });
    expect(config.listen.allowPrivateTargets).toBe(allowed);
  });

  it.each([true, false])('takes JSON %s over "auto" whatever the host', (value) => {
    expect(load({ config: { Listen: { AllowPrivateTargets: value } } }).listen.allowPrivateTargets).toBe(value);
    expect(load({ config: { Listen: { AllowPrivateTargets: value, Host: '0.0.0.0', AllowUnauthenticatedPublic: true } } })
      .listen.allowPrivateTargets).toBe(value);
  });

  it.each([
    ['true', true],
    ['1', true],
    ['false', false],
    ['0', false],
    ['auto', true],
  ])('takes STICKYPORT_ALLOW_PRIVATE_TARGETS=%s as %s on loopback', (text, value) => {
    expect(load({ env: { STICKYPORT_ALLOW_PRIVATE_TARGETS: text } }).listen.allowPrivateTargets).toBe(value);
  });

  it.each(['yes', 'no', 'true', '0', 'AUTO', 'Auto', '', 1, 0, null])('refuses %j in a file', (value) => {
    const error = refusal({ config: { Listen: { AllowPrivateTargets: value } } });
    expect(error.keys).toEqual(['Listen.AllowPrivateTargets']);
    expect(error.message).toContain('"auto"');
  });

  it.each(['yes', 'AUTO', '', 'FALSE', '2', 'toString'])('refuses STICKYPORT_ALLOW_PRIVATE_TARGETS=%j, naming it', (text) => {
    const error = refusal({ env: { STICKYPORT_ALLOW_PRIVATE_TARGETS: text } });
    expect(error.keys).toEqual(['Listen.AllowPrivateTargets']);
    expect(error.message).toContain('environment variable STICKYPORT_ALLOW_PRIVATE_TARGETS');
    expect(error.message).toContain('must be true, false, 1, 0 or auto');
  });
});

describe('Logging.Requests', () => {
  it.each([true, false, 'errors'])('takes %j from a file', (value) => {
    expect(load({ config: { Logging: { Requests: value } } }).logging.requests).toBe(value);
  });

  it.each([
    ['true', true],
    ['0', false],
    ['errors', 'errors'],
  ])('takes STICKYPORT_LOG_REQUESTS=%s as %j', (text, value) => {
    expect(load({ env: { STICKYPORT_LOG_REQUESTS: text } }).logging.requests).toBe(value);
  });

  it.each(['no', 'true', 'Errors', 'error', 1, null])('refuses %j in a file, naming the key', (value) => {
    const error = refusal({ config: { Logging: { Requests: value } } });
    expect(error.keys).toEqual(['Logging.Requests']);
    expect(error.message).toContain('must be true, false (JSON booleans, without quotes) or "errors"');
  });

  it.each(['Errors', 'yes', ''])('refuses STICKYPORT_LOG_REQUESTS=%j', (text) => {
    const error = refusal({ env: { STICKYPORT_LOG_REQUESTS: text } });
    expect(error.message).toContain('environment variable STICKYPORT_LOG_REQUESTS');
    expect(error.message).toContain('must be true, false, 1, 0 or errors');
  });
});
