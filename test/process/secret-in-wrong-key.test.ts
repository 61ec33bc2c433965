import { describe, expect, it } from 'vitest';
import { spawnStickyport, writeConfig } from '../helpers/spawn-stickyport.js';

// The provider's URL, with its password, pasted into a flag or key that holds no secret (the
// most likely way a password lands in one) was echoed in clear by the refusal or by `check`'s
// report (an adversarial pass). Such a value is shown as loose text is: a URL without its login,
// anything else with an "@" not at all. The key and the layer are still named.

const SECRET = 'SECRETPW123';

async function output(args: string[], expectedExit: number): Promise<string> {
  const proc = spawnStickyport(args);
  expect(await proc.exited).toBe(expectedExit);
  const text = `${proc.stdout.join('\n')}\n${proc.stderr.join('')}`;
  expect(text).not.toContain(SECRET);
  expect(text).not.toContain(Buffer.from(SECRET).toString('base64'));
  return text;
}

describe('a password in a key that holds no secret', () => {
  it.each([
    ['--preset', `http://u:${SECRET}@gate:7777`, 'Upstream.Preset = "http://u:***@gate:7777" (from flag --preset)'],
    ['--host', `u:${SECRET}@h`, 'Listen.Host = *** (from flag --host)'],
    ['--lifetime', `http://u:${SECRET}@h`, '(from flag --lifetime)'],
    ['--log-level', `a@${SECRET}`, '(from flag --log-level)'],
  ])('given as %s is not shown', async (flag, value, said) => {
    expect(await output(['check', '--ports', '22100', flag, value], 2)).toContain(said);
  });

  it('given as host:port:user:password (a provider dashboard\'s form) is shown without the password', async () => {
    expect(await output(['check', '--ports', '22100', '--host', `gate.example:7777:user1:${SECRET}`], 2)).toContain('Listen.Host = "gate.example:7777:user1:***" (from flag --host)');
  });

  it.each([
    // The explanation quoted the value the line had masked (the review).
    ['an upstream host with a login', { Upstream: { Host: `spuser:${SECRET}@gate.example`, Port: 7777, Username: 'u', Password: 'p' } }, 2, 'Upstream.Host = *** (from'],
    ['a host rule pattern with an @ that is no regular expression', { HostRules: [{ Pattern: `/(a@${SECRET}/`, Action: 'Deny' }] }, 2, 'is not a valid regular expression: Unterminated group'],
    ['user:password in the client login user name', { Authentication: { Required: true, Username: `scraper:${SECRET}`, Password: 'x' } }, 2, 'Authentication.Username = "scraper:***" (from'],
    ['user:password in the upstream user name', { Upstream: { Host: 'gate.example', Port: 7777, Username: `user:${SECRET}`, Password: 'p' } }, 0, '"user:***"'],
  ])('in a file, %s is not shown, in the value or its explanation', async (_name, settings, exit, said) => {
    expect(await output(['check', '--ports', '22100', '--config', writeConfig(settings)], exit)).toContain(said);
  });

  it('in a file, a refused OverrideHost is not shown', async () => {
    const file = writeConfig({ HostRules: [{ Pattern: 'a.example', Action: 'Bypass', OverrideHost: `u:${SECRET}@h` }] });
    expect(await output(['check', '--ports', '22100', '--config', file], 2)).toContain('HostRules[0].OverrideHost = *** (from --config');
  });

  it("in a file, an accepted Upstream.Username is shown by check without the URL's password", async () => {
    const file = writeConfig({ Upstream: { Host: 'gate.example', Port: 7777, Username: `http://u:${SECRET}@h:1`, Password: 'x' } });
    expect(await output(['check', '--ports', '22100', '--config', file], 0)).toMatch(/Upstream\.Username +"http:\/\/u:\*\*\*@h:1"/);
  });
});
