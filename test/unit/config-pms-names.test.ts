import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';
import { PMS_APPSETTINGS, pmsRefusal } from '../fixtures/pms/expected.js';
import { folderWith, RawText, refusal } from './config-fixtures.js';

// A ProxyMapService (PMS) user's configuration: each PMS key stickyport names differently, or
// does without, is answered with what to write instead (README: Coming from ProxyMapService),
// wherever it may stand and from whichever file; typos still get their "did you mean".

/** The message line about `key`. */
function lineAbout(error: ConfigError, key: string): string {
  const line = error.message.split('\n').map((text) => text.trim()).find((text) => text.startsWith(`${key} `) || text.startsWith(`${key}:`));
  if (!line) throw new Error(`no line about ${key} in:\n${error.message}`);
  return line;
}

const PROXY_SERVERS = 'is Upstream.Urls here: ["http://USER:PASS@HOST:PORT", ...] (socks4a:// for Socks4, socks5h:// for Socks5); one server: Upstream.Url';
const NO_DECRYPTION = 'is not supported: stickyport never decrypts tunnels';
const FILE_ACTION = "must be one of: Allow, Deny, Bypass; ProxyMapService's File action (files from RootDir) is not supported";
const port = { Listen: { Port: 10301 } };
const upstreamServer = { Host: 'gate.example.net', Port: 7777, ProxyType: 'Socks5', Username: 'acme', Password: 'hunter2' };

describe('a ProxyMapService appsettings.json', () => {
  it('is refused with every PMS key it holds named with what stickyport reads instead, and no password', () => {
    const cwd = folderWith({ 'appsettings.json': new RawText(readFileSync(PMS_APPSETTINGS, 'utf8')) });
    let error: unknown;
    try {
      loadConfig({ cwd, env: {} });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const { message } = error as ConfigError;
    expect(message).toBe(pmsRefusal(path.join(cwd, 'appsettings.json')));
    expect(message).not.toMatch(/hunter2|did you mean/);
  });
});

describe('ProxyMapService names', () => {
  it.each([
    // The top level: PMS's own top-level keys, and its mapping keys in the top-level defaults.
    ['ProxyMappings', { ProxyMappings: [port] }, "unknown key; ProxyMapService's ProxyMappings is Mappings here (README: Coming from ProxyMapService)"],
    ['ProxyServers', { ProxyServers: [upstreamServer] }, `unknown key; ProxyMapService's ProxyServers ${PROXY_SERVERS}`],
    ['ProxyServersFiles', { ProxyServersFiles: [{ Path: 'socks.json' }] }, "unknown key; ProxyMapService's ProxyServersFiles is not supported: list the servers' URLs in Upstream.Urls"],
    ['Listen.Ssl', { Listen: { Ssl: true } }, "unknown key; ProxyMapService's Listen.Ssl is not supported: stickyport listens in plain TCP; put a TLS terminator in front if clients need TLS"],
    ['Listen.DecryptSSL', { Listen: { DecryptSSL: false } }, `unknown key; ProxyMapService's Listen.DecryptSSL ${NO_DECRYPTION}`],
    ['Authentication.UsernameParameters', { Authentication: { UsernameParameters: [{ Name: 'country', Default: 'us' }] } }, "unknown key; ProxyMapService's Authentication.UsernameParameters is Upstream.Parameters here"],
    ['HostRulesFiles', { HostRulesFiles: [{ Path: 'rules.json' }] }, "unknown key; ProxyMapService's HostRulesFiles is not supported: put the rules in HostRules"],
    // In a mapping: the same keys, each with the mapping's index.
    ['Mappings[0].ProxyServers', { Mappings: [{ ...port, ProxyServers: { Items: [upstreamServer] } }] }, `unknown key; ProxyMapService's ProxyServers ${PROXY_SERVERS}`],
    ['Mappings[0].Listen.Ssl', { Mappings: [{ Listen: { Port: 10301, Ssl: true } }] }, "unknown key; ProxyMapService's Listen.Ssl is not supported"],
    ['Mappings[1].Listen.SslMode', { Mappings: [port, { Listen: { Port: 10302, SslMode: 'Auto' } }] }, `unknown key; ProxyMapService's Listen.SslMode ${NO_DECRYPTION}`],
    ['Mappings[0].Authentication.Verify', { Mappings: [{ ...port, Authentication: { Verify: true } }] }, "unknown key; ProxyMapService's Authentication.Verify is not needed: a required login is always verified here (407 otherwise)"],
    ['Mappings[0].Authentication.SetAuthentication', { Mappings: [{ ...port, Authentication: { SetAuthentication: true } }] }, "unknown key; ProxyMapService's Authentication.SetAuthentication is not needed: always so here"],
    ['Mappings[0].Listen.IgnoreHostRules', { Mappings: [{ Listen: { Port: 10301, IgnoreHostRules: true } }] }, "unknown key; ProxyMapService's Listen.IgnoreHostRules is not supported: a mapping's own HostRules come before the global ones"],
    // In a host rule, the global ones and a mapping's own.
    ['HostRules[0].HostName', { HostRules: [{ HostName: 'www.example.com', Action: 'Bypass' }] }, "unknown key; ProxyMapService's HostRules[].HostName is Pattern here, with the plain name"],
    ['HostRules[0].HostPort', { HostRules: [{ Pattern: '*.example.com', HostPort: 443 }] }, "unknown key; ProxyMapService's HostRules[].HostPort is not supported: rules match host names only"],
    ['HostRules[0].ProxyServer', { HostRules: [{ Pattern: '*', ProxyServer: upstreamServer }] }, "unknown key; ProxyMapService's HostRules[].ProxyServer is Upstream here"],
    ['Mappings[0].HostRules[1].OverrideHostName', { Mappings: [{ ...port, HostRules: [{ Pattern: 'a.example' }, { Pattern: 'b.example', OverrideHostName: 'c.example' }] }] }, "unknown key; ProxyMapService's HostRules[].OverrideHostName is OverrideHost here"],
    ['Mappings[0].HostRules[0].OverrideHostPort', { Mappings: [{ ...port, HostRules: [{ Pattern: 'b.example', OverrideHostPort: 81 }] }] }, "unknown key; ProxyMapService's HostRules[].OverrideHostPort is OverridePort here"],
    ['Mappings[0].HostRules[0].SslMode', { Mappings: [{ ...port, HostRules: [{ Pattern: 'b.example', SslMode: 'No' }] }] }, `unknown key; ProxyMapService's HostRules[].SslMode ${NO_DECRYPTION}`],
    // A refused value of a key both name alike.
    ['HostRules[0].Action = "File"', { HostRules: [{ Pattern: 'files.example', Action: 'File' }] }, FILE_ACTION],
    ['Mappings[0].HostRules[0].Action = "File"', { Mappings: [{ ...port, HostRules: [{ Pattern: 'files.example', Action: 'File' }] }] }, FILE_ACTION],
    // PMS's { "Items": [...], "Files": [...] } in place of a list of rules.
    ['Mappings[0].HostRules = an object', { Mappings: [{ ...port, HostRules: { Items: [] } }] }, "must be a list of objects: [ { ... }, { ... } ]; ProxyMapService's HostRules.Items is this list here"],
    ['Mappings[0].HostRules.Items[0].HostName', { Mappings: [{ ...port, HostRules: { Items: [{ HostName: 'a.example' }] } }] }, "unknown key; ProxyMapService's HostRules[].HostName is Pattern here"],
    ['Mappings[0].HostRules.Files', { Mappings: [{ ...port, HostRules: { Files: [{ Path: 'rules.json' }] } }] }, "unknown key; ProxyMapService's HostRules.Files is not supported: put the rules in HostRules"],
  ])('%s is answered with what stickyport reads instead', (key, settings, text) => {
    const line = lineAbout(refusal({ config: settings }), key);
    expect(line).toContain(`(from --config override.json): ${text}`);
    expect(line).not.toContain('hunter2');
  });

  it.each([
    ['Allow', "ProxyMapService's Listen.Action is not needed for Allow: a host no rule matches goes through the port's session here; drop it"],
    ['Bypass', 'ProxyMapService\'s Listen.Action is a host rule here, last in HostRules: { "Pattern": "*", "Action": "Bypass" }'],
    ['Deny', 'ProxyMapService\'s Listen.Action is a host rule here, last in HostRules: { "Pattern": "*", "Action": "Deny" }'],
    ['File', "ProxyMapService's File action (files from RootDir) is not supported"],
  ])('Listen.Action %s is answered with the host rule that does it, or none', (action, text) => {
    const error = refusal({ config: { Mappings: [{ Listen: { Port: 10301, Action: action } }] } });
    expect(lineAbout(error, 'Mappings[0].Listen.Action')).toBe(`Mappings[0].Listen.Action = "${action}" (from --config override.json): unknown key; ${text}`);
  });

  it('are answered in each file layer, naming it: appsettings.json, appsettings.<NODE_ENV>.json, --config', () => {
    const cwd = folderWith({
      'appsettings.json': { ProxyMappings: [port] },
      'appsettings.staging.json': { Authentication: { Verify: true } },
      'override.json': { HostRules: [{ HostName: 'a.example' }] },
    });
    let error: ConfigError | undefined;
    try {
      loadConfig({ cwd, env: { NODE_ENV: 'staging' }, configPath: 'override.json' });
    } catch (caught) {
      error = caught as ConfigError;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect(lineAbout(error!, 'ProxyMappings')).toBe(
      `ProxyMappings (from ${path.join(cwd, 'appsettings.json')}): unknown key; ProxyMapService's ProxyMappings is Mappings here (README: Coming from ProxyMapService)`,
    );
    expect(lineAbout(error!, 'Authentication.Verify')).toContain(`(from ${path.join(cwd, 'appsettings.staging.json')}): unknown key; ProxyMapService's Authentication.Verify is not needed`);
    expect(lineAbout(error!, 'HostRules[0].HostName')).toContain("(from --config override.json): unknown key; ProxyMapService's HostRules[].HostName is Pattern here");
  });

  it('leave typos their "did you mean", beside PMS names in the same section, and never show a PMS password', () => {
    const error = refusal({
      config: {
        Listen: { StickyProxyLifeTime: 30, DecryptSSL: true },
        Authentication: { Pasword: 'hunter2', RemoveAuthentication: true },
        Mappings: [{ Listen: { Port: 10301, Prot: 1 }, ProxyServers: [upstreamServer], HostRules: [{ Patern: '*', CertificatePassword: 'hunter2' }] }],
      },
    });
    expect(error.message).toBe([
      'invalid configuration:',
      'Listen.StickyProxyLifeTime (from --config override.json): unknown key; did you mean Listen.StickyProxyLifetime?',
      `Listen.DecryptSSL (from --config override.json): unknown key; ProxyMapService's Listen.DecryptSSL ${NO_DECRYPTION}`,
      'Authentication.Pasword (from --config override.json): unknown key; did you mean Authentication.Password?',
      "Authentication.RemoveAuthentication (from --config override.json): unknown key; ProxyMapService's Authentication.RemoveAuthentication is not needed: " +
        "always so here; the client's Proxy-Authorization never goes upstream",
      'Mappings[0].Listen.Prot (from --config override.json): unknown key; did you mean Mappings[0].Listen.Port?',
      `Mappings[0].ProxyServers (from --config override.json): unknown key; ProxyMapService's ProxyServers ${PROXY_SERVERS}`,
      'Mappings[0].HostRules[0].Patern (from --config override.json): unknown key; did you mean Mappings[0].HostRules[0].Pattern?',
      `Mappings[0].HostRules[0].CertificatePassword (from --config override.json): unknown key; ProxyMapService's HostRules[].CertificatePassword ${NO_DECRYPTION}`,
    ].join('\n  '));
  });
});
