import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { startupBanner } from '../../src/cli/banner.js';
import { checkReport, configNotes } from '../../src/cli/check.js';
import { formatRecord, terminalDestination } from '../../src/cli/terminal-log.js';
import type { FlagValue } from '../../src/config/flags.js';
import { explainConfig, loadConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/logging/logger.js';
import { folderWith } from './config-fixtures.js';
import { quoted } from '../../src/logging/quoted.js';

const configWith = (settings: unknown, flags: FlagValue[] = []) =>
  loadConfig({ cwd: folderWith({ 'appsettings.json': settings }), env: {}, flags });

describe('the start-up banner', () => {
  it('says the ranges, the upstream with its password masked, the store, the API and one command to try', () => {
    const config = configWith(
      { SessionAPI: { Enabled: true } },
      [{ name: 'ports', text: '10201-10210' }, { name: 'upstream', text: 'http://user-session-{session}:hunter2@gate.example:7777' }],
    );
    expect(startupBanner(config, '1.2.3')).toBe(
      [
        'stickyport 1.2.3 listening on 127.0.0.1, 10 ports: 10201-10210',
        '  upstream     http://user-session-{session}:***@gate.example:7777',
        '  store        memory (sessions end when stickyport stops)',
        '  session API  http://portmapper/session/ through any port',
        '  try          curl -x http://127.0.0.1:10201 http://portmapper/session/',
        'Ctrl-C stops it.',
        '',
      ].join('\n'),
    );
  });

  it('shows where the admin server answers, when it is on', () => {
    expect(startupBanner(configWith({ Admin: { Enabled: true } }), '1')).toContain('  admin        http://127.0.0.1:10200/ (status page, /metrics, /api/ports)\n');
    const remote = startupBanner(configWith({ Admin: { Enabled: true, Host: '0.0.0.0', Port: 9000, Token: 'tok-secret' } }), '1');
    expect(remote).toContain('http://127.0.0.1:9000/ (status page, /metrics, /api/ports; bearer token)');
    expect(remote).not.toContain('tok-secret');
    expect(startupBanner(configWith({}), '1')).not.toContain('admin');
  });

  it('points at the exit IP when the API is off, and at the port itself for an empty domain', () => {
    const off = startupBanner(configWith({ Listen: { PortRange: { Start: 20000, End: 20000 } } }), '1');
    expect(off).toContain('listening on 127.0.0.1, port 20000\n');
    expect(off).toContain('upstream     none: each port connects to targets directly');
    expect(off).toContain('session API  off (--session-api turns it on)');
    expect(off).toContain('try          curl -x http://127.0.0.1:20000 https://api.ipify.org');
    const onPort = startupBanner(configWith({ SessionAPI: { Enabled: true, Domain: '' } }), '1');
    expect(onPort).toContain('session API  /session/ on each port itself');
    expect(onPort).toContain('try          curl http://127.0.0.1:10201/session/');
  });

  it('never shows a password: client login, API password, Redis URL', () => {
    const config = configWith({
      Listen: { Host: '0.0.0.0' },
      Authentication: { Required: true, Username: 'alice', Password: 'hunter2' },
      SessionAPI: { Enabled: true, Password: 'apisecret' },
      SessionStore: { Type: 'redis', RedisUrl: 'redis://:redissecret@cache.example:6379' },
    });
    const banner = startupBanner(config, '1');
    expect(banner).toContain('listening on 0.0.0.0,');
    expect(banner).toContain('store         redis redis://:***@cache.example:6379, key prefix stickyport:');
    expect(banner).toContain('session API   http://portmapper/session/ through any port, password protected');
    expect(banner).toContain('client login  required (user alice)');
    expect(banner).toContain("try           curl --proxy-user 'alice:<password>' -x http://127.0.0.1:10201 http://portmapper/session/");
    expect(banner).not.toMatch(/hunter2|apisecret|redissecret/);
    const pwd = startupBanner(configWith({ SessionAPI: { Enabled: true, Password: 'apisecret' } }), '1');
    expect(pwd).toContain("curl -x http://127.0.0.1:10201 'http://portmapper/session/?pwd=<password>'");
  });

  it('names the file store by its full path and brackets an IPv6 host', () => {
    const banner = startupBanner(configWith({ Listen: { Host: '::1' }, SessionStore: { Type: 'file', Path: 'data/s.json' } }), '1', '/srv/sp');
    expect(banner).toContain('listening on [::1], 100 ports: 10201-10300');
    expect(banner).toContain('store        file /srv/sp/data/s.json');
    expect(banner).toContain('curl -x http://[::1]:10201 https://api.ipify.org');
  });
});

describe('stickyport check output', () => {
  it('lists the layers, then every key with its masked value and origin, then notes', () => {
    const cwd = folderWith({ 'appsettings.json': { Upstream: { Url: 'http://plain:hunter2@gate.example:1' } } });
    const env = { STICKYPORT_LOG_LEVEL: 'warn', STICKYPORT_PORTSTART: '3' };
    const report = explainConfig({ cwd, env, flags: [{ name: 'ports', text: '10201-10210' }] });
    const text = checkReport(report, configNotes(report, env), '1.2.3');
    const lines = text.split('\n');
    expect(lines[0]).toBe('stickyport 1.2.3: the configuration is valid.');
    expect(lines).toContain(`  ${cwd}/appsettings.json  read`);
    expect(text).toMatch(/^ {2}environment +STICKYPORT_LOG_LEVEL$/m);
    expect(text).toMatch(/^ {2}flags +--ports$/m);
    expect(text).toMatch(/^ {2}Listen\.PortRange\.Start +10201 +flag --ports$/m);
    expect(text).toMatch(/^ {2}Logging\.Level +"warn" +environment variable STICKYPORT_LOG_LEVEL$/m);
    expect(text).toMatch(new RegExp(`^ {2}Upstream\\.Url +"http://plain:\\*\\*\\*@gate\\.example:1" +${cwd}/appsettings\\.json$`, 'm'));
    expect(text).toMatch(/^ {2}Session\.IdLength +8 +default$/m);
    expect(text).toContain('Notes:\n  Upstream has no {session} placeholder');
    expect(text).toContain('STICKYPORT_PORTSTART is not one stickyport reads, so it is ignored; did you mean STICKYPORT_PORT_START?');
    expect(text).not.toContain('hunter2');
  });

  // A relative path was printed as written: the file a service started from `/` uses was not said.
  it('notes where a relative SessionStore.Path puts the sessions, from the working directory', () => {
    const cwd = folderWith({ 'appsettings.json': { SessionStore: { Type: 'file', Path: 'data/s.json' } } });
    const report = explainConfig({ cwd, env: {} });
    expect(configNotes(report, {}, '/srv/app')).toContain(
      'SessionStore.Path "data/s.json" is relative to the working directory: started from here, the sessions are kept in "/srv/app/data/s.json"',
    );
    const absolute = explainConfig({ cwd: folderWith({ 'appsettings.json': { SessionStore: { Type: 'file', Path: '/var/lib/s.json' } } }), env: {} });
    expect(configNotes(absolute, {}, '/srv/app').join('\n')).not.toContain('SessionStore.Path');
  });

  it('notes a SOCKS4 upstream given a password (SOCKS4 never sends one), without showing it', () => {
    const cwd = folderWith({ 'appsettings.json': { Upstream: { Url: 'socks4a://cust-{session}:SOCKSPW@gate.example:1080' } } });
    const report = explainConfig({ cwd, env: {} });
    const notes = configNotes(report, {});
    expect(notes).toEqual([expect.stringMatching(/^Upstream gives a SOCKS4 upstream a password: SOCKS4 carries a user id only, so the password is never sent/)]);
    expect(notes.join('')).not.toContain('SOCKSPW');
    // A host rule's own upstream, and an Upstream.Urls member, are said as well (once for a
    // top-level rule, which every mapping has).
    const elsewhere = explainConfig({
      cwd: folderWith({
        'appsettings.json': {
          Upstream: { Urls: ['socks4a://cust-{session}:SOCKSPW@gate.example:1080'] },
          Mappings: [{ Listen: { Port: 10300 } }, { Listen: { Port: 10301 } }],
          HostRules: [{ Pattern: '*.example.org', Upstream: { Url: 'socks4://u-{session}:SOCKSPW@gate.example:1080' } }],
        },
      }),
      env: {},
    });
    const said = configNotes(elsewhere, {});
    expect(said.filter((note) => note.startsWith('HostRules[0].Upstream gives a SOCKS4 upstream a password'))).toHaveLength(1);
    expect(said.some((note) => / gives a SOCKS4 upstream a password/.test(note) && !note.startsWith('HostRules'))).toBe(true);
    expect(said.join('')).not.toContain('SOCKSPW');
    // Without a password, or on SOCKS5, nothing to say.
    for (const url of ['socks4a://cust-{session}@gate.example:1080', 'socks5h://cust-{session}:pw@gate.example:1080']) {
      const quiet = explainConfig({ cwd: folderWith({ 'appsettings.json': { Upstream: { Url: url } } }), env: {} });
      expect(configNotes(quiet, {})).toEqual([]);
    }
  });
});

describe('log lines on a terminal', () => {
  it('are time, level, message and the fields, without the JSON', () => {
    const time = new Date(2026, 0, 2, 3, 4, 5).getTime();
    expect(formatRecord({ level: 40, time, pid: 1, name: 'stickyport', msg: 'session created', port: 10201, id: 'a b' })).toBe(
      '03:04:05 WARN  session created port=10201 id="a b"',
    );
    expect(formatRecord({ level: 50, time, msg: 'stop failed', err: { type: 'Error', message: 'boom', stack: '...' } }, true)).toBe(
      '03:04:05 \x1b[31mERROR\x1b[39m stop failed err="boom"',
    );
  });

  it('show the request log as an access log reads', () => {
    const time = new Date(2026, 0, 2, 3, 4, 5).getTime();
    const base = { level: 30, time, pid: 1, name: 'stickyport', component: 'requests', msg: 'request completed', port: 10201, mapping: 'default' };
    expect(
      formatRecord({ ...base, sessionId: 'abcd', kind: 'http', method: 'GET', host: 'example.com', path: '/a', status: 200, outcome: 'OK', bytesUp: 0, bytesDown: 2048, durationMs: 35.2, upstreamMs: 30.1 }),
    ).toBe('03:04:05 INFO  10201 GET example.com/a 200 OK 2.0 KiB down 0 B up 35.2 ms (upstream 30.1 ms) session=abcd');
    expect(formatRecord({ ...base, kind: 'connect', method: 'CONNECT', host: 'example.com:443', status: 502, outcome: 'UPSTREAM_REFUSED', bytesUp: 0, bytesDown: 0, durationMs: 3 })).toBe(
      '03:04:05 INFO  10201 CONNECT example.com:443 502 UPSTREAM_REFUSED 0 B down 0 B up 3 ms',
    );
  });

  // JSON.stringify leaves DEL and C1 controls as they are, and some terminals act on the 8-bit
  // CSI (U+009B) as on ESC [: a client's header value could move the cursor or recolour lines.
  it('write every control character a client sent as \\uXXXX, C1 and DEL included', () => {
    const time = new Date(2026, 0, 2, 3, 4, 5).getTime();
    const hostile = 'a\u009b31m\u001b[2J\u007f\u0085b';
    const lines = [
      formatRecord({ level: 30, time, msg: `refused ${hostile}`, value: hostile, other: `x ${hostile}` }),
      formatRecord({ level: 30, time, component: 'requests', msg: 'request completed', port: 1, kind: 'http', method: 'GET', host: hostile, path: `/${hostile}`, status: 200, outcome: 'OK', bytesUp: 0, bytesDown: 0, durationMs: 1 }),
    ];
    for (const line of lines) expect(line).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
    expect(lines[0]).toContain('a\\u009b31m\\u001b[2J\\u007f\\u0085b');
    expect(quoted(hostile)).toBe('"a\\u009b31m\\u001b[2J\\u007f\\u0085b"');
  });

  it('come through pino with its redaction, and hide what the banner says', () => {
    const written: string[] = [];
    const out = new Writable({
      write(chunk: Buffer, _encoding, done) {
        written.push(chunk.toString());
        done();
      },
    });
    const log = createLogger('info', terminalDestination(out, (record) => record.msg === 'stickyport listening'));
    log.info({ port: 10201, password: 'hunter2' }, 'hello');
    log.info({ ports: '1-2' }, 'stickyport listening');
    log.debug('not at info');
    expect(written).toHaveLength(1);
    expect(written[0]).toMatch(/^\d\d:\d\d:\d\d INFO  hello port=10201 password=\[redacted\]\n$/);
  });
});
