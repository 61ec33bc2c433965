import { describe, expect, it } from 'vitest';
import { explainConfig, loadConfig } from '../../src/config/load.js';
import { upstreamNotes } from '../../src/cli/check.js';
import { folderWith, load, refusal } from './config-fixtures.js';

// Mappings, read as the rest of the configuration is: every key of every element validated,
// named with its index, its value (masked when secret) and its layer; unknown keys refused with
// a suggestion; what a mapping leaves out taken from the top level.

const lineAbout = (message: string, key: string): string => {
  const line = message.split('\n').find((text) => text.trimStart().startsWith(key));
  if (!line) throw new Error(`no line about ${key} in:\n${message}`);
  return line.trim();
};

/** The message of the refusal a start with these flags gets, in `cwd` ('' when it starts). */
function flagRefusal(cwd: string, flags: Array<{ name: string; text: string }>): string {
  try {
    loadConfig({ cwd, env: {}, flags });
  } catch (error) {
    return (error as Error).message;
  }
  return '';
}

describe('Mappings', () => {
  it('is one mapping named default, made of the top-level keys, when absent', () => {
    const config = load({ config: { Listen: { PortRange: { Start: 11000, End: 11009 } }, Upstream: { Url: 'http://u-{session}:pw@gate:1' } } });
    expect(config.mappings).toHaveLength(1);
    expect(config.mappings[0]).toMatchObject({ name: 'default', source: '', portStart: 11000, portEnd: 11009, lifetimeMs: 600_000 });
    expect(config.mappings[0]!.upstream.members.map((member) => member.key)).toEqual(['gate:1']);
  });

  it('takes what a mapping leaves out from the top level, key by key; Url, Urls and Preset as one choice', () => {
    const config = load({
      config: {
        Listen: { Host: '127.0.0.2', StickyProxyLifetime: '30m' },
        Upstream: { Url: 'http://top-{session}:pw@top:1' },
        Authentication: { Username: 'me', Password: 'pw' },
        Mappings: [
          { Name: 'a', Listen: { Port: 12000 } },
          { Listen: { PortRange: { Start: 12001, End: 12003 }, StickyProxyLifetime: 5 }, Upstream: { Urls: ['http://x-{session}:pw@x:1', 'http://y-{session}:pw@y:1'] }, Authentication: { Required: true } },
        ],
      },
    });
    const [a, b] = config.mappings;
    expect(a).toMatchObject({ name: 'a', source: 'Mappings[0]', host: '127.0.0.2', portStart: 12000, portEnd: 12000, lifetimeMs: 1_800_000 });
    expect(a!.upstream.members.map((member) => member.key)).toEqual(['top:1']);
    expect(b).toMatchObject({ name: 'mapping-2', portStart: 12001, portEnd: 12003, lifetimeMs: 300_000, auth: { required: true, username: 'me', password: 'pw' } });
    expect(b!.upstream.members.map((member) => member.key)).toEqual(['x:1', 'y:1']);
  });

  it('names each bad value with its index, its value and its layer', () => {
    const error = refusal({ config: { Mappings: [{ Listen: { Port: 12000 } }, { Listen: { PortRange: { Start: '12001', End: 70000 } } }] } });
    expect(lineAbout(error.message, 'Mappings[1].Listen.PortRange.Start')).toBe(
      'Mappings[1].Listen.PortRange.Start = "12001" (from --config override.json): must be a port number, an integer 1-65535 (a JSON number: write it without quotes)',
    );
    expect(lineAbout(error.message, 'Mappings[1].Listen.PortRange.End')).toContain('= 70000');
    expect(error.keys).toEqual(['Mappings[1].Listen.PortRange.Start', 'Mappings[1].Listen.PortRange.End']);
  });

  it('refuses unknown keys inside a mapping, suggesting the nearest, without showing the value', () => {
    const error = refusal({ config: { Mappings: [{ Listen: { Prot: 12000 }, Upstream: { Pasword: 'hunter2' } }] } });
    expect(lineAbout(error.message, 'Mappings[0].Listen.Prot')).toBe('Mappings[0].Listen.Prot (from --config override.json): unknown key; did you mean Mappings[0].Listen.Port?');
    expect(lineAbout(error.message, 'Mappings[0].Upstream.Pasword')).toContain('did you mean Mappings[0].Upstream.Password?');
    expect(error.message).not.toContain('hunter2');
  });

  // A shared key written in a mapping got a bare "unknown key": the key exists, at the top level.
  it.each([
    [{ Listen: { IdleTimeout: '5s' } }, 'Mappings[0].Listen.IdleTimeout', 'Listen.IdleTimeout'],
    [{ Listen: { AllowPrivateTargets: true } }, 'Mappings[0].Listen.AllowPrivateTargets', 'Listen.AllowPrivateTargets'],
    [{ SessionAPI: { Enabled: true } }, 'Mappings[0].SessionAPI', 'SessionAPI'],
  ])('a shared key inside a mapping (%j) says to set it at the top level', (inside, key, shared) => {
    const error = refusal({ config: { Mappings: [inside] } });
    expect(lineAbout(error.message, key)).toBe(`${key} (from --config override.json): unknown key in a mapping: ${shared} is shared by every mapping; set it at the top level`);
  });

  it.each([
    [{ Mappings: { Name: 'a' } }, 'Mappings', /must be a list of objects/],
    [{ Mappings: ['a'] }, 'Mappings[0]', /must be an object/],
    [{ Mappings: [{ Name: 'a b' }] }, 'Mappings[0].Name', /letters, digits/],
    [{ Mappings: [{ Listen: { Port: 12000, PortRange: { Start: 12000, End: 12001 } } }] }, 'Mappings[0].Listen.Port', /= 12000 \(from --config override.json\): and .* both name the ports/],
    [{ Mappings: [{ Listen: { PortRange: { Start: 12005, End: 12001 } } }] }, 'Mappings[0].Listen.PortRange', /reversed/],
    [{ Mappings: [{ Name: 'a', Listen: { Port: 12000 } }, { Name: 'a', Listen: { Port: 12001 } }] }, 'Mappings[1].Name', /\(from --config override.json\): "a" is also the name of Mappings\[0\]/],
    [{ HostRules: [{ Action: 'Deny' }] }, 'HostRules[0].Pattern', /\(from --config override.json\): must be set/],
    // Its port was dropped without a word: traffic went to the client's port instead.
    [{ HostRules: [{ Pattern: 'a.test', OverrideHost: '127.0.0.1:18201' }] }, 'HostRules[0].OverrideHost', /without a port: give the port as OverridePort/],
    [{ HostRules: [{ Pattern: 'a.test', OverrideHost: '[::1]:8080' }] }, 'HostRules[0].OverrideHost', /without a port/],
    [{ HostRules: [{ Pattern: 'a.test', OverrideHost: 'gate.example:80' }] }, 'HostRules[0].OverrideHost', /without a port/],
    // The password the mapping lacks is the top-level one it inherits: that key is named.
    [{ Mappings: [{ Listen: { Port: 12000 }, Authentication: { Required: true, Username: 'me' } }] }, 'Authentication.Password', /= "" \(from default\): must be set: Mappings\[0\]\.Authentication\.Required is true/],
    [{ Mappings: [{ Listen: { Port: 12000, Host: '0.0.0.0' } }] }, 'Mappings[0].Listen.Host', /open proxy/],
    [{ Mappings: [{ Listen: { Port: 12000, RejectHttpProxy: 'yes' } }] }, 'Mappings[0].Listen.RejectHttpProxy', /true or false/],
    [{ Mappings: [{ Listen: { Port: 12000 }, Upstream: { Url: 'http://a-{session}:p@a:1', Preset: 'oxylabs' } }] }, 'Mappings[0].Upstream.Preset', /both name the upstream/],
  ])('refuses %j naming %s', (settings, key, text) => {
    const error = refusal({ config: settings });
    expect(error.keys).toContain(key);
    expect(lineAbout(error.message, key)).toMatch(text);
  });

  it('stops start-up on overlapping ranges, naming both mappings, even on different hosts', () => {
    const error = refusal({
      config: {
        Listen: { AllowUnauthenticatedPublic: true },
        Mappings: [
          { Name: 'wide', Listen: { Host: '127.0.0.1', PortRange: { Start: 12000, End: 12100 } } },
          { Name: 'narrow', Listen: { Host: '127.0.0.2', PortRange: { Start: 12050, End: 12060 } } },
        ],
      },
    });
    expect(lineAbout(error.message, 'Mappings[1].Listen.PortRange')).toBe(
      'Mappings[1].Listen.PortRange (from --config override.json): 12050-12060 of mapping "narrow" overlaps 12000-12100 of mapping "wide" (Mappings[0]) ' +
        'at ports 12050-12060: a port belongs to one mapping (sessions are kept per port, even on different hosts)',
    );
  });

  it('masks the password of a mapping\'s upstream URL in its messages', () => {
    const error = refusal({ config: { Mappings: [{ Listen: { Port: 12000 }, Upstream: { Url: 'ftp://u-{session}:hunter2@gate:1' } }] } });
    expect(lineAbout(error.message, 'Mappings[0].Upstream.Url')).toContain('***');
    expect(error.message).not.toContain('hunter2');
  });

  it('refuses --ports when every mapping names its own ports: it would bind nothing', () => {
    const cwd = folderWith({ 'appsettings.json': { Mappings: [{ Listen: { Port: 12000 } }] } });
    expect(flagRefusal(cwd, [{ name: 'ports', text: '13000-13005' }])).toContain('Listen.PortRange (from flag --ports): was given on the command line, but every one of Mappings names its own ports');
  });

  // They were accepted and then did nothing, while --ports in the same case was refused.
  it.each([
    ['upstream', 'http://x-{session}:p@127.0.0.1:1', { Upstream: { Url: 'http://y-{session}:p@127.0.0.1:2' } }, 'Upstream.Url (from flag --upstream): was given on the command line, but every one of Mappings names its own upstream: it would change nothing'],
    ['lifetime', '5', { Listen: { StickyProxyLifetime: 3 } }, 'Listen.StickyProxyLifetime (from flag --lifetime): was given on the command line, but every one of Mappings sets its own lifetime: it would change nothing'],
    ['host', '127.0.0.2', { Listen: { Host: '127.0.0.3' } }, 'Listen.Host (from flag --host): was given on the command line, but every one of Mappings sets its own host: it would change nothing'],
  ])('refuses --%s when every mapping sets its own', (name, text, own, expected) => {
    const mapping = (port: number) => ({ ...own, Listen: { Port: port, ...(own as { Listen?: object }).Listen } });
    const cwd = folderWith({ 'appsettings.json': { Mappings: [mapping(12000), mapping(12001)] } });
    expect(flagRefusal(cwd, [{ name, text }])).toContain(expected);
    // One mapping that takes the default: the flag is its value, and it is taken.
    const taking = folderWith({ 'appsettings.json': { Mappings: [mapping(12000), { Listen: { Port: 12001 } }] } });
    expect(() => loadConfig({ cwd: taking, env: {}, flags: [{ name, text }] })).not.toThrow();
  });

  // The same keys set by environment variables were taken without a word and did nothing. The
  // environment often serves more than one run (a container's), so they are said, not refused:
  // at start-up (a warning) and by `stickyport check` (upstreamNotes).
  it.each([
    ['STICKYPORT_UPSTREAM_URL', 'http://x-{session}:p@127.0.0.1:1', { Upstream: { Url: 'http://y-{session}:p@127.0.0.1:2' } }, 'environment variable STICKYPORT_UPSTREAM_URL sets Upstream.Url, but every one of Mappings names its own upstream: it would change nothing'],
    ['STICKYPORT_LISTEN_HOST', '127.0.0.2', { Listen: { Host: '127.0.0.3' } }, 'environment variable STICKYPORT_LISTEN_HOST sets Listen.Host, but every one of Mappings sets its own host: it would change nothing'],
  ])('says %s when every mapping sets its own, and nothing when one takes it', (name, value, own, expected) => {
    const mapping = (port: number) => ({ ...own, Listen: { Port: port, ...(own as { Listen?: object }).Listen } });
    const cwd = folderWith({ 'appsettings.json': { Mappings: [mapping(12000), mapping(12001)] } });
    const config = loadConfig({ cwd, env: { [name]: value }, flags: [] });
    expect(config.inertEnvironment).toEqual([expected]);
    expect(upstreamNotes(config)).toContain(expected);
    expect(upstreamNotes(config).join('\n')).not.toContain(':p@');
    const taking = folderWith({ 'appsettings.json': { Mappings: [mapping(12000), { Listen: { Port: 12001 } }] } });
    expect(loadConfig({ cwd: taking, env: { [name]: value }, flags: [] }).inertEnvironment).toBeUndefined();
    // Set to nothing (a compose file's unset variable), it says nothing.
    if (name === 'STICKYPORT_UPSTREAM_URL') expect(loadConfig({ cwd, env: { [name]: '' }, flags: [] }).inertEnvironment).toBeUndefined();
  });

  // A mapping that sets only PortRange.Start takes End from the top level, which --ports sets.
  it('takes --ports when a mapping names only its range\'s Start', () => {
    const cwd = folderWith({ 'appsettings.json': { Mappings: [{ Listen: { PortRange: { Start: 13000 } } }] } });
    const config = loadConfig({ cwd, env: {}, flags: [{ name: 'ports', text: '12990-13003' }] });
    expect(config.mappings[0]).toMatchObject({ portStart: 13000, portEnd: 13003 });
  });

  // "shared" was judged by the section's name: a mapping's Session.Lifetime (no such key
  // anywhere) was told to go to the top level, where it is unknown too.
  it.each([
    [{ Session: { Lifetime: 30 } }, 'Mappings[0].Session'],
    [{ Mappings: [{ Listen: { Port: 1 } }] }, 'Mappings[0].Mappings'],
  ])('a key that is not the top level\'s either (%j) gets no "shared" hint', (inside, key) => {
    const error = refusal({ config: { Mappings: [{ Listen: { Port: 12000 }, ...inside }] } });
    expect(lineAbout(error.message, key)).toMatch(/unknown key/);
    expect(error.message).not.toContain('shared by every mapping');
  });

  // It named a key the user never touched, as if the file were wrong.
  it('--upstream over a file that declares parameters for its preset says the parameters stay', () => {
    const cwd = folderWith({ 'appsettings.json': { Upstream: { Preset: 'oxylabs', Username: 'acme', Password: 'pw', Parameters: { country: 'de' } } } });
    expect(flagRefusal(cwd, [{ name: 'upstream', text: 'http://x-{session}:p@127.0.0.1:1' }])).toContain('is declared, but Upstream.Url has no {country} placeholder to put it in (--upstream replaced the upstream, not the parameters declared with it: name {country} in the URL, or drop the parameter)');
  });

  it('replaces a list as a whole: a later layer\'s Mappings wins over an earlier one\'s', () => {
    const config = load({
      appsettings: { Mappings: [{ Name: 'file', Listen: { Port: 12000 } }, { Listen: { Port: 12001 } }] },
      config: { Mappings: [{ Name: 'override', Listen: { Port: 12002 } }] },
    });
    expect(config.mappings.map((mapping) => mapping.name)).toEqual(['override']);
  });
});

describe('stickyport check with lists', () => {
  it('shows each value inside Mappings, HostRules and Upstream.Urls with its layer, secrets masked', () => {
    const cwd = folderWith({
      'appsettings.json': {
        Upstream: { Urls: ['http://a-{session}:urlsecret@a:1', 'http://b-{session}:urlsecret@b:1'] },
        HostRules: [{ Pattern: '*.cdn.test', Action: 'Bypass' }],
        Mappings: [{ Name: 'm', Listen: { Port: 12000 }, Upstream: { Preset: 'oxylabs', Username: 'acme', Password: 'presetsecret' }, Authentication: { Username: 'u', Password: 'loginsecret' } }],
      },
    });
    const report = explainConfig({ cwd, env: {} });
    const row = (key: string) => report.values.find((value) => value.key === key);
    const origin = `${cwd}/appsettings.json`;
    expect(row('Upstream.Urls[1]')).toEqual({ key: 'Upstream.Urls[1]', shown: '"http://b-{session}:***@b:1"', origin });
    expect(row('HostRules[0].Pattern')).toEqual({ key: 'HostRules[0].Pattern', shown: '"*.cdn.test"', origin });
    expect(row('Mappings[0].Upstream.Password')).toMatchObject({ shown: '***' });
    expect(row('Mappings[0].Authentication.Password')).toMatchObject({ shown: '***' });
    expect(row('Upstream.Parameters')).toEqual({ key: 'Upstream.Parameters', shown: '{}', origin: 'default' });
    expect(JSON.stringify(report.values)).not.toMatch(/urlsecret|presetsecret|loginsecret/);
  });
});
