import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';

// Values that were accepted and could never work (an adversarial pass): a client login user name
// with ":" (Basic splits at the first one: every login got 407), a blank login (spaces only,
// which still counted as "a client login" for a public bind), and a session API domain no
// request can name (a number such as 0x10 is read as an IPv4 address; empty labels; over 253
// characters). Each is refused naming its key.

function load(settings: unknown): ConfigError | undefined {
  const dir = mkdtempSync(path.join(tmpdir(), 'stickyport-config-'));
  writeFileSync(path.join(dir, 'appsettings.json'), JSON.stringify(settings));
  try {
    loadConfig({ cwd: dir, env: {} });
    return undefined;
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
}

describe('values that could never work are refused', () => {
  it.each([
    ['a:b', 'x', 'Authentication.Username', 'must not hold ":"'],
    [' ', 'x', 'Authentication.Username', 'must not be blank'],
    ['user', '   ', 'Authentication.Password', 'must not be blank'],
  ])('a client login %j / %j', (username, password, key, said) => {
    const error = load({ Authentication: { Required: true, Username: username, Password: password } });
    expect(error?.message).toContain(key);
    expect(error?.message).toContain(said);
  });

  it('a blank login does not open a public bind', () => {
    const error = load({ Listen: { Host: '0.0.0.0' }, Authentication: { Required: true, Username: ' ', Password: ' ' } });
    expect(error?.message).toMatch(/Authentication\.Username = " " .*must not be blank/);
  });

  it('in a mapping too', () => {
    const error = load({ Mappings: [{ Name: 'm', Listen: { PortRange: { Start: 20001, End: 20002 } }, Authentication: { Required: true, Username: 'a:b', Password: 'x' } }] });
    expect(error?.message).toContain('Mappings[0].Authentication.Username');
  });

  it.each(['0x10', '99999999999999999', '10.0.0.1', 'a..b', '-1', 'a-', `${'a'.repeat(64)}.test`, `${'a.'.repeat(127)}ab`, 'portmapper..', '.'])('SessionAPI.Domain %j', (domain) => {
    expect(load({ SessionAPI: { Domain: domain } })?.message).toContain('SessionAPI.Domain');
  });

  it.each(['portmapper', 'my-api.local', 'a1.b2', 'x', '', '0api.test', 'portmapper.'])('SessionAPI.Domain %j is taken', (domain) => {
    expect(load({ SessionAPI: { Domain: domain } })).toBeUndefined();
  });
});

describe('a settings file that is not UTF-8', () => {
  function loadBytes(bytes: Buffer): ReturnType<typeof loadConfig> | ConfigError {
    const dir = mkdtempSync(path.join(tmpdir(), 'stickyport-config-'));
    writeFileSync(path.join(dir, 'appsettings.json'), bytes);
    try {
      return loadConfig({ cwd: dir, env: {} });
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      return error as ConfigError;
    }
  }

  it.each([
    ['a byte that starts no character', Buffer.from([0xff, 0xfe]), 'line 2, column 37 (byte 38)'],
    ['an overlong "/"', Buffer.from([0xc0, 0xaf]), 'line 2, column 37 (byte 38)'],
    ['a sequence cut short (found at the byte that ends it)', Buffer.from([0xe2, 0x82]), 'line 2, column 38 (byte 40)'],
  ])('is refused where it breaks: %s (it was read as U+FFFD, a login unlike the one on disk)', (_name, bad, where) => {
    const bytes = Buffer.concat([Buffer.from('{\n  "Authentication": {"Username": "ab'), bad, Buffer.from('", "Password": "x"}}')]);
    const error = loadBytes(bytes);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toContain(`is not valid UTF-8: ${where}`);
  });

  it('UTF-8 text is read as it is', () => {
    const config = loadBytes(Buffer.from('{"Authentication": {"Username": "café", "Password": "x"}}'));
    expect(config).not.toBeInstanceOf(ConfigError);
    expect((config as ReturnType<typeof loadConfig>).mappings[0]!.auth.username).toBe('café');
  });
});

it('an unknown key a megabyte long is named in 200 characters and its length', () => {
  const key = `K${'x'.repeat(1_000_000)}`;
  const error = load({ [key]: 1 });
  expect(error?.message.length).toBeLessThan(1_000);
  expect(error?.message).toContain(`${key.slice(0, 200)}… (1000001 characters)`);
});
