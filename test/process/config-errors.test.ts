import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { freePortRange } from '../helpers/ports.js';
import { spawnStickyport, writeConfig, type SpawnedStickyport } from '../helpers/spawn-stickyport.js';
import { PMS_APPSETTINGS, pmsRefusal } from '../fixtures/pms/expected.js';

// The real entry point with a bad configuration: exit code 2, one message on stderr naming the
// key, no stack trace, no secret, and not one port of the range bound, not even for a moment
// (a port bound and released would not show; a listener still running would).

const running: SpawnedStickyport[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((proc) => proc.stop('SIGKILL')));
});

function bindable(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

interface Refusal {
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs stickyport on `count` free ports and expects it to refuse to start. */
async function refused(
  settings: (first: number, last: number) => { args?: string[]; env?: NodeJS.ProcessEnv; cwd?: string },
  count = 2,
): Promise<Refusal> {
  const first = await freePortRange(count);
  const last = first + count - 1;
  const { args = [], env = {}, cwd } = settings(first, last);
  const proc = spawnStickyport(args, env, { cwd });
  running.push(proc);
  const outcome = await Promise.race([proc.exited, proc.waitForLine(/stickyport listening/).then(() => 'listening' as const)]);
  const output = { stdout: proc.stdout.join('\n'), stderr: proc.stderr.join('') };
  expect(outcome, `stdout: ${output.stdout}\nstderr: ${output.stderr}`).toBe(2);
  for (let port = first; port <= last; port++) {
    expect(await bindable(port, '127.0.0.1'), `port ${port} is bound`).toBe(true);
  }
  // Printed once: as text on stderr, nothing on stdout (no pino line beside it).
  expect(output.stdout).toBe('');
  expect(output.stderr.match(/invalid configuration|is not valid JSON|must hold a JSON object/g)).toHaveLength(1);
  expect(output.stderr).toMatch(/^stickyport: /);
  expect(`${output.stdout}\n${output.stderr}`).not.toMatch(/ {4}at /);
  expect(`${output.stdout}\n${output.stderr}`).not.toContain('hunter2');
  return output;
}

const range = (first: number, last: number) => ({ Start: first, End: last });

describe('node dist/main.js with a bad configuration', () => {
  it('refuses STICKYPORT_PORT_START=<port>abc, naming the variable', async () => {
    const { stderr } = await refused((first, last) => ({
      env: { STICKYPORT_PORT_START: `${first}abc`, STICKYPORT_PORT_END: String(last) },
    }));
    expect(stderr).toContain('Listen.PortRange.Start');
    expect(stderr).toContain('environment variable STICKYPORT_PORT_START');
    expect(stderr).toContain('integer 1-65535');
  });

  it('refuses "AllowUnauthenticatedPublic": "no" on 0.0.0.0 instead of opening a public proxy', async () => {
    const { stderr } = await refused((first, last) => ({
      args: ['--config', writeConfig({ Listen: { Host: '0.0.0.0', PortRange: range(first, last), AllowUnauthenticatedPublic: 'no' } })],
    }));
    expect(stderr).toContain('Listen.AllowUnauthenticatedPublic = "no"');
    expect(stderr).toContain('must be true or false');
  });

  it('takes STICKYPORT_ALLOW_UNAUTHENTICATED_PUBLIC=0 as false: no open proxy on 0.0.0.0', async () => {
    const { stderr } = await refused((first, last) => ({
      env: {
        STICKYPORT_LISTEN_HOST: '0.0.0.0',
        STICKYPORT_ALLOW_UNAUTHENTICATED_PUBLIC: '0',
        STICKYPORT_PORT_START: String(first),
        STICKYPORT_PORT_END: String(last),
      },
    }));
    expect(stderr).toContain('Listen.Host = "0.0.0.0" (from environment variable STICKYPORT_LISTEN_HOST)');
    expect(stderr).toContain('open proxy');
  });

  it('refuses a timeout of 0 and a lifetime of 1e308', async () => {
    const { stderr } = await refused((first, last) => ({
      args: ['--config', writeConfig({ Listen: { PortRange: range(first, last), IdleTimeout: 0, StickyProxyLifetime: 1e308 } })],
    }));
    expect(stderr).toContain('Listen.IdleTimeout = 0');
    expect(stderr).toContain('"no limit"');
    expect(stderr).toContain('Listen.StickyProxyLifetime = 1e+308');
    expect(stderr).toContain('at most 365 days');
  });

  it('refuses an id alphabet with "-" and a Redis URL of another scheme, masking its password', async () => {
    const { stderr } = await refused((first, last) => ({
      args: [
        '--config',
        writeConfig({
          Listen: { PortRange: range(first, last) },
          Session: { IdAlphabet: 'abc-' },
          SessionStore: { Type: 'redis', RedisUrl: 'http://:hunter2@127.0.0.1:6379' },
        }),
      ],
    }));
    expect(stderr).toContain('Session.IdAlphabet');
    expect(stderr).toContain('SessionStore.RedisUrl = "http://:***@127.0.0.1:6379"');
  });

  it('checks a preset\'s lifetime limit, naming the key, from --preset and the account in the environment', async () => {
    const { stderr } = await refused((first, last) => ({
      args: ['--preset', 'oxylabs', '--lifetime', '2d', '--ports', `${first}-${last}`],
      env: { STICKYPORT_UPSTREAM_USERNAME: 'acme', STICKYPORT_UPSTREAM_PASSWORD: 'hunter2' },
    }));
    expect(stderr).toContain('Listen.StickyProxyLifetime = "2d" (from flag --lifetime): must be 1-1440 minutes for oxylabs (sesstime) (Upstream.Preset is oxylabs)');
  });

  it('refuses an upstream host that is not a host name, in --upstream and in a preset\'s Upstream.Host', async () => {
    // Both passed, and then every request was a 500 logged as a bug.
    const flag = await refused((first, last) => ({ args: ['--ports', `${first}-${last}`, '--upstream', 'http://u-{session}:hunter2@gate example:7000'] }));
    expect(flag.stderr).toContain('Upstream.Url = "http://u-{session}:***@gate example:7000" (from flag --upstream): is not a usable upstream proxy URL: host "gate example" is not a host name');
    const preset = await refused((first, last) => ({
      args: ['--preset', 'brightdata', '--ports', `${first}-${last}`],
      env: { STICKYPORT_UPSTREAM_USERNAME: 'acme', STICKYPORT_UPSTREAM_PASSWORD: 'hunter2', STICKYPORT_UPSTREAM_HOST: 'gate example' },
    }));
    expect(preset.stderr).toContain('Upstream.Host = "gate example" (from environment variable STICKYPORT_UPSTREAM_HOST): must be "" (the preset\'s own) or a host name or IP address');
  });

  it('refuses overlapping mappings, naming both', async () => {
    const { stderr } = await refused((first, last) => ({
      args: ['--config', writeConfig({ Mappings: [{ Name: 'a', Listen: { PortRange: range(first, last) } }, { Name: 'b', Listen: { Port: last } }] })],
    }));
    expect(stderr).toMatch(/Mappings\[1\]\.Listen\.Port \(from --config .*\): \d+ of mapping "b" overlaps \d+-\d+ of mapping "a" \(Mappings\[0\]\)/);
  });

  it('suggests the key a mistyped one meant', async () => {
    const { stderr } = await refused((first, last) => ({
      args: ['--config', writeConfig({ Listen: { PortRange: range(first, last), StickyProxyLifeTime: 30 } })],
    }));
    expect(stderr).toContain('Listen.StickyProxyLifeTime (from --config ');
    expect(stderr).toContain('did you mean Listen.StickyProxyLifetime?');
  });

  it('answers each key of a ProxyMapService appsettings.json with what to write instead', async () => {
    // The file as a PMS user brings it: appsettings.json in the folder stickyport starts in.
    const cwd = mkdtempSync(path.join(tmpdir(), 'stickyport-pms-'));
    copyFileSync(PMS_APPSETTINGS, path.join(cwd, 'appsettings.json'));
    const { stderr } = await refused(() => ({ cwd }));
    expect(stderr).toBe(`stickyport: ${pmsRefusal(path.join(cwd, 'appsettings.json'))}\n`);
  });

  it.each([
    ['a single-quoted password', `"Authentication": { "Password": 'hunter2' }`, 'line 3, column 35', `"Authentication": { "Password": '***' }`],
    ['a trailing comma after a password', `"Authentication": { "Password": "hunter2", }`, 'line 3, column 44', `"Authentication": { "Password": "***", }`],
    ['an unterminated string holding a password', `"Authentication": { "Password": "hunter2 }`, 'line 3, column 35', `"Authentication": { "Password": "***`],
  ])('locates a JSON syntax error, %s, without echoing it', async (_what, line, where, masked) => {
    const { stderr } = await refused((first, last) => {
      const file = writeConfig({});
      writeFileSync(file, `{\n  "Listen": { "PortRange": { "Start": ${first}, "End": ${last} } },\n  ${line}\n}\n`);
      return { args: ['--config', file] };
    });
    expect(stderr).toContain(`is not valid JSON: ${where}`);
    expect(stderr).toContain(`3 |   ${masked}`);
  });

  it('names a config file that holds an array', async () => {
    const { stderr } = await refused(() => {
      const file = writeConfig([]);
      return { args: ['--config', file] };
    });
    expect(stderr).toMatch(/config\.json must hold a JSON object .* not an array/);
  });
});
