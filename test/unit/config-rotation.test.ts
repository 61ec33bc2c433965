import { describe, expect, it } from 'vitest';
import { load, refusal } from './config-fixtures.js';

// Rotation rules, exit identity and keep-alive keys: read element by element, named with their
// place, refused with what would be accepted.

const upstream = { Url: 'http://u-{session}:p@gate.example:7777' };

describe('Rotation.Rules', () => {
  it('reads every condition, with the defaults of Name, Consecutive, Action and Cooldown', () => {
    const config = load({
      config: {
        Upstream: upstream,
        Rotation: {
          BodyScanKiB: 8,
          Rules: [
            { Name: 'banned', When: { Status: [429, '5xx', '401-403'], Header: { Name: 'CF-Mitigated', Value: 'challenge' } }, Action: 'rotate-and-retry', Cooldown: '1m' },
            { When: { BodyContains: 'captcha', ConnectStatus: ['refused', 403], Consecutive: 3 }, Cooldown: 0 },
          ],
        },
      },
    });
    const [first, second] = config.mappings[0]!.rotationRules;
    expect(config.rotation.bodyScanBytes).toBe(8 * 1024);
    expect(first).toMatchObject({ name: 'banned', source: 'Rotation.Rules[0]', action: 'rotate-and-retry', cooldownMs: 60_000, consecutive: 1, bodyContains: undefined, connect: undefined });
    expect([429, 500, 599, 401, 403].map((s) => first!.status![s])).toEqual([1, 1, 1, 1, 1]);
    expect([428, 400, 404, 200].map((s) => first!.status![s])).toEqual([0, 0, 0, 0]);
    expect(first!.header!.name).toBe('cf-mitigated');
    expect(first!.header!.test('a Challenge b')).toBe(true);
    expect(second).toMatchObject({ name: 'Rotation.Rules[1]', action: 'rotate', cooldownMs: 0, consecutive: 3, status: undefined });
    expect(second!.bodyContains!.toString()).toBe('captcha');
    expect([...second!.connect!.failures]).toEqual(['refused']);
    expect(second!.connect!.statuses[403]).toBe(1);
  });

  it('puts a mapping\'s own rules before the global ones, named with their place', () => {
    const config = load({
      config: {
        Upstream: upstream,
        Rotation: { Rules: [{ Name: 'global', When: { Status: 503 } }] },
        Mappings: [
          { Listen: { Port: 12001 }, Rotation: { Rules: [{ When: { Status: 429 } }] } },
          { Listen: { Port: 12002 } },
        ],
      },
    });
    expect(config.mappings[0]!.rotationRules.map((rule) => rule.name)).toEqual(['Mappings[0].Rotation.Rules[0]', 'global']);
    expect(config.mappings[1]!.rotationRules.map((rule) => rule.name)).toEqual(['global']);
  });

  it.each([
    [{ Rotation: { Rules: [{ When: { Status: 429 } }, { When: { Status: '6xx' } }] } }, 'Rotation.Rules[1].When.Status', /class \("5xx"\)/],
    [{ Rotation: { Rules: [{ When: { Status: '504-500' } }] } }, 'Rotation.Rules[0].When.Status', /low to high/],
    [{ Rotation: { Rules: [{ When: { Status: [] } }] } }, 'Rotation.Rules[0].When.Status', /at least one/],
    [{ Rotation: { Rules: [{ When: { ConnectStatus: 'closed' } }] } }, 'Rotation.Rules[0].When.ConnectStatus', /"refused", "timeout", "reset"/],
    [{ Rotation: { Rules: [{ When: { Stauts: 429 } }] } }, 'Rotation.Rules[0].When.Stauts', /did you mean Rotation.Rules\[0\].When.Status\?/],
    [{ Rotation: { Rules: [{ When: { Consecutive: 3 } }] } }, 'Rotation.Rules[0].When', /Status, Header, BodyContains or ConnectStatus/],
    [{ Rotation: { Rules: [{ When: { Header: { Value: 'x' } } }] } }, 'Rotation.Rules[0].When.Header.Name', /must be set/],
    [{ Rotation: { Rules: [{ When: { Header: { Name: 'x', Value: '/(/' } } }] } }, 'Rotation.Rules[0].When.Header.Value', /regular expression/],
    // "No text value may hold a control character": rule texts passed with one.
    [{ Rotation: { Rules: [{ When: { Header: { Name: 'x', Value: 'a\r\nb' } } }] } }, 'Rotation.Rules[0].When.Header.Value', /without control characters/],
    [{ Rotation: { Rules: [{ When: { Header: { Name: 'x', Value: '/a\u0007/' } } }] } }, 'Rotation.Rules[0].When.Header.Value', /without control characters/],
    [{ Rotation: { Rules: [{ When: { BodyContains: 'a\u0000b' } }] } }, 'Rotation.Rules[0].When.BodyContains', /without control characters/],
    [{ Rotation: { Rules: [{ When: { Status: 429 }, Action: 'retry' }] } }, 'Rotation.Rules[0].Action', /rotate, rotate-and-retry/],
    [{ Rotation: { Rules: [{ When: { Status: 429 }, Cooldown: -1 }] } }, 'Rotation.Rules[0].Cooldown', /negative \(0 = off\)/],
    [{ Rotation: { Rules: [{ When: { Status: 429, Consecutive: 0 } }] } }, 'Rotation.Rules[0].When.Consecutive', /1-1000/],
    [{ Rotation: { Rules: [{ Name: 'a b', When: { Status: 429 } }] } }, 'Rotation.Rules[0].Name', /1-64 letters/],
    [{ Rotation: { Rules: { When: { Status: 429 } } } }, 'Rotation.Rules', /list of objects/],
    [{ Rotation: { BodyScanKiB: 0 } }, 'Rotation.BodyScanKiB', /1-1024/],
    [{ Mappings: [{ Listen: { Port: 12001 }, Rotation: { Rules: [{ When: { BodyContains: '' } }] } }] }, 'Mappings[0].Rotation.Rules[0].When.BodyContains', /1-256/],
  ])('refuses %j naming %s', (settings, key, says) => {
    const error = refusal({ config: { Upstream: upstream, ...settings } });
    expect(error.keys).toContain(key);
    expect(error.message).toMatch(says);
  });
});

describe('Identity and Session.KeepAlive', () => {
  it('reads the echo URL, checks, drift action and keep-alive', () => {
    const config = load({
      config: {
        Identity: { EchoUrl: 'https://ifconfig.co/json', CheckOnCreate: true, CheckEvery: '5m', OnDrift: 'rotate', Timeout: '3s' },
        Session: { KeepAlive: 45 },
      },
    });
    expect(config.identity).toEqual({
      echoUrl: 'https://ifconfig.co/json',
      checkOnCreate: true,
      checkEveryMs: 300_000,
      onDrift: 'rotate',
      timeoutMs: 3_000,
      keepAliveMs: 45_000,
      keepAliveUrl: 'https://ifconfig.co/json',
    });
    expect(load({ env: { STICKYPORT_SESSION_KEEP_ALIVE: '30s', STICKYPORT_SESSION_KEEP_ALIVE_URL: 'http://ping.example/' } }).identity).toMatchObject({ keepAliveMs: 30_000, keepAliveUrl: 'http://ping.example/', echoUrl: '' });
  });

  it.each([
    [{ Identity: { CheckEvery: '5m' } }, 'Identity.CheckEvery', /needs Identity.EchoUrl/],
    [{ Identity: { CheckOnCreate: true } }, 'Identity.CheckOnCreate', /needs Identity.EchoUrl/],
    [{ Identity: { OnDrift: 'rotate' } }, 'Identity.OnDrift', /needs Identity.EchoUrl/],
    [{ Identity: { OnDrift: 'alert', EchoUrl: 'http://a/' } }, 'Identity.OnDrift', /log, rotate/],
    [{ Session: { KeepAlive: '1m' } }, 'Session.KeepAlive', /Session.KeepAliveUrl or Identity.EchoUrl/],
    [{ Identity: { EchoUrl: 'ftp://a/' } }, 'Identity.EchoUrl', /another scheme/],
    [{ Identity: { EchoUrl: 'http://user:pw@a/' } }, 'Identity.EchoUrl', /without a login/],
    [{ Identity: { EchoUrl: 'http://a/', Timeout: 0 } }, 'Identity.Timeout', /above 0/],
  ])('refuses %j naming %s', (settings, key, says) => {
    const error = refusal({ config: settings });
    expect(error.keys).toContain(key);
    expect(error.message).toMatch(says);
    expect(error.message).not.toContain(':pw@');
  });
});
