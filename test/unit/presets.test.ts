import { describe, expect, it } from 'vitest';
import { presetMember } from '../../src/upstream/presets.js';
import { DOCUMENTED, PRESET_VARS as vars } from '../helpers/preset-cases.js';
import { load, refusal } from './config-fixtures.js';

// Each preset renders its provider's documented sticky-session grammar: the strings the README
// documents (test/helpers/preset-cases.ts).

describe('provider presets', () => {
  it.each(DOCUMENTED)('%s renders the documented user name and password', (name, account, username, password, gateway) => {
    const member = presetMember(name, { username: account, password: 'pw', host: '', port: 0 });
    const endpoint = member.render(vars);
    expect(`${endpoint.hostname}:${endpoint.port}`).toBe(gateway);
    expect(endpoint.username).toBe(username);
    expect(endpoint.password).toBe(password);
    expect(member.key).toBe(gateway);
    expect(member.description).not.toContain('pw');
  });

  it('drops parameters without a value, and takes an account already written the provider\'s way', () => {
    const plain = { ...vars, params: { country: '', state: '', city: '' } };
    expect(presetMember('oxylabs', { username: 'customer-acme', password: 'pw', host: '', port: 0 }).render(plain).username).toBe('customer-acme-sessid-AbCdEfGh-sesstime-30');
    expect(presetMember('decodo', { username: 'user-acme', password: 'pw', host: '', port: 0 }).render(plain).username).toBe('user-acme-session-AbCdEfGh-sessionduration-30');
    expect(presetMember('soax', { username: 'package-9', password: 'pw', host: '', port: 0 }).render(plain).username).toBe('package-9-sessionid-AbCdEfGh-sessionlength-1800');
    expect(presetMember('iproyal', { username: 'a', password: 'pw', host: '', port: 0 }).render({ ...plain, lifetimeMs: 2 * 3_600_000 }).password).toBe('pw_session-AbCdEfGh_lifetime-2h');
    expect(presetMember('oxylabs', { username: 'a', password: 'pw', host: '', port: 0 }).render({ ...plain, params: { country: 'us', state: 'us_california', city: '' } }).username).toBe('customer-a-cc-US-st-us_california-sessid-AbCdEfGh-sesstime-30');
  });

  it('uses another gateway when Host and Port are given', () => {
    const endpoint = presetMember('oxylabs', { username: 'a', password: 'pw', host: 'us-pr.oxylabs.io', port: 10000 }).render(vars);
    expect([endpoint.hostname, endpoint.port]).toEqual(['us-pr.oxylabs.io', 10000]);
  });

  const account = { Username: 'acme', Password: 'pw' };
  it.each([
    ['oxylabs', '1441m', /must be 1-1440 minutes for oxylabs \(sesstime\) \(Upstream.Preset is oxylabs\)/],
    ['oxylabs', 0, /must be set: oxylabs sessions last at most 1440 minutes/],
    ['oxylabs', '90s', /must be whole minutes for oxylabs/],
    ['decodo', '25h', /must be 1-1440 minutes for decodo \(sessionduration\)/],
    ['iproyal', '8d', /must be at most 7 days for iproyal/],
    ['soax', '2d', /must be at most 86400 seconds/],
    ['soax', '1500ms', /must be whole seconds for soax/],
  ])('checks the %s lifetime %j at start-up, naming Listen.StickyProxyLifetime', (preset, lifetime, problem) => {
    const error = refusal({ config: { Listen: { StickyProxyLifetime: lifetime }, Upstream: { Preset: preset, ...account } } });
    expect(error.keys).toEqual(['Listen.StickyProxyLifetime']);
    expect(error.message).toMatch(problem);
  });

  it('names the mapping\'s lifetime key when a mapping sets it', () => {
    const error = refusal({ config: { Mappings: [{ Listen: { Port: 12000, StickyProxyLifetime: '2d' }, Upstream: { Preset: 'decodo', ...account } }] } });
    expect(error.keys).toEqual(['Mappings[0].Listen.StickyProxyLifetime']);
  });

  it.each([
    [{ Session: { IdLength: 10 } }, 'Session.IdLength', /must be 8 for iproyal/],
    [{ Session: { IdAlphabet: 'abc_' } }, 'Session.IdAlphabet', /letters and digits only for iproyal/],
  ])('checks the id rule iproyal imposes: %j', (settings, key, problem) => {
    const error = refusal({ config: { ...settings, Upstream: { Preset: 'iproyal', ...account } } });
    expect(error.keys).toEqual([key]);
    expect(error.message).toMatch(problem);
  });

  it.each([
    [{ Upstream: { Preset: 'oxylabs', Password: 'pw' } }, 'Upstream.Username', /must be set: Upstream.Preset is oxylabs/],
    [{ Upstream: { Preset: 'oxylabs', ...account, Parameters: { zip: '1' } } }, 'Upstream.Parameters.zip', /not a parameter the oxylabs preset knows \(it knows country, state, city\)/],
    [{ Upstream: { Preset: 'brightdata', ...account, Url: 'http://u-{session}:p@h:1' } }, 'Upstream.Preset', /both name the upstream/],
    // One endpoint spelled twice (case, a trailing dot) passed as two members of one pool.
    [{ Upstream: { Urls: ['http://a-{session}:p@Gate.example:1', 'http://a-{session}:p@gate.example.:1'] } }, 'Upstream.Urls[1]', /same host and port/],
    // A default holding the login's field separator went into every session's login unchecked
    // (a client sending the same value gets a 400): an extra field, the same for every port.
    [{ Upstream: { Preset: 'iproyal', ...account, Parameters: { city: 'new_york' } } }, 'Upstream.Parameters.city', /holds "_", which this upstream's login separates its fields with/],
    [{ Upstream: { Url: 'http://acme_country_{country}_session_{session}:p@h:1', Parameters: { country: 'de_session_FIXED' } } }, 'Upstream.Parameters.country', /holds "_"/],
    // A preset fills nothing into its host: every request went to "{session}.gate.example" (502).
    [{ Upstream: { Preset: 'brightdata', ...account, Host: '{session}.gate.example' } }, 'Upstream.Host', /without placeholders/],
  ])('refuses %j', (settings, key, problem) => {
    const error = refusal({ config: settings });
    expect(error.keys).toContain(key);
    expect(error.message).toMatch(problem);
  });

  it('names the layer of each of two upstreams from different layers (a file\'s Urls, the environment\'s Url)', () => {
    const error = refusal({
      appsettings: { Upstream: { Urls: ['http://a-{session}:p@h1:1', 'http://a-{session}:p@h2:2'] } },
      env: { STICKYPORT_UPSTREAM_URL: 'http://b-{session}:secret@h3:3' },
    });
    expect(error.message).toMatch(/Upstream\.Urls = an array \(from .*appsettings\.json\): and Upstream\.Url \(from environment variable STICKYPORT_UPSTREAM_URL\) both name the upstream/);
    expect(error.message).not.toContain('secret');
  });

  it('declares country, state and city for a preset, with the defaults given', () => {
    const config = load({ config: { Upstream: { Preset: 'soax', ...account, Parameters: { country: 'us' } } } });
    expect(config.mappings[0]!.upstream.parameters).toEqual({ country: 'us', state: '', city: '' });
  });
});
