import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { request } from '../helpers/client.js';
import { startOrigin } from '../helpers/origin.js';
import { freePortRange } from '../helpers/ports.js';
import { startRecordingUpstream } from '../helpers/recording-upstream.js';
import { spawnStickyport, writeConfig, type SpawnedStickyport } from '../helpers/spawn-stickyport.js';

// The command line of the real entry point, `node dist/main.js`, run in an empty folder.

const VERSION = (JSON.parse(readFileSync(path.resolve(import.meta.dirname, '../../package.json'), 'utf8')) as { version: string }).version;

const running: SpawnedStickyport[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((proc) => proc.stop('SIGKILL')));
});

function run(args: string[], env: NodeJS.ProcessEnv = {}): SpawnedStickyport {
  const proc = spawnStickyport(args, env);
  running.push(proc);
  return proc;
}

/** Runs a command that ends on its own: its exit code and what it printed. */
async function finished(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const proc = run(args, env);
  const code = await proc.exited;
  return { code, stdout: proc.stdout.join('\n'), stderr: proc.stderr.join('') };
}

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => server.close(() => resolve(true)));
  });
}

describe('stickyport --help, --version and mistakes', () => {
  it('prints the help with every option, exit 0', async () => {
    const { code, stdout, stderr } = await finished(['--help']);
    expect(code).toBe(0);
    expect(stderr).toBe('');
    for (const option of ['--ports', '--host', '--upstream', '--lifetime', '--store', '--session-api', '--log-level', '--config', '--version']) {
      expect(stdout).toContain(option);
    }
    expect(stdout).toContain('stickyport check');
  });

  it('prints the package version, exit 0', async () => {
    expect(await finished(['--version'])).toEqual({ code: 0, stdout: VERSION, stderr: '' });
  });

  it('refuses an empty --config= with exit 2 naming it, instead of checking the defaults', async () => {
    const { code, stdout, stderr } = await finished(['check', '--config=']);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toBe('stickyport: --config is empty: it needs a file: --config FILE\nRun stickyport --help to see every option.\n');
  });

  it('refuses an unknown option with one message and exit 2, binding nothing', async () => {
    const { code, stdout, stderr } = await finished(['--prots', '10201-10210']);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toBe('stickyport: unknown option --prots; did you mean --ports?\nRun stickyport --help to see every option.\n');
  });
});

describe('stickyport with flags and no file', () => {
  it('serves through the --upstream template on the --ports range', async () => {
    const origin = await startOrigin();
    const upstream = await startRecordingUpstream('pw');
    try {
      const first = await freePortRange(2);
      const proc = run(['--ports', `${first}-${first + 1}`, '--upstream', `http://user-session-{session}:pw@127.0.0.1:${upstream.port}`]);
      const ready = JSON.parse(await proc.waitForLine(/stickyport listening/));
      expect(ready).toMatchObject({ ports: `${first}-${first + 1}`, upstream: `http://user-session-{session}:***@127.0.0.1:${upstream.port}` });
      expect((await request(first + 1, `${origin.url}/`)).body).toBe('hello');
      expect(upstream.seen[0]!.username).toMatch(/^user-session-[a-zA-Z]{8}$/);
      expect(upstream.seen[0]!.password).toBe('pw');
      expect(await proc.stop('SIGTERM')).toBe(0);
      expect(proc.stdout.join('\n')).not.toContain(':pw@');
    } finally {
      await upstream.close();
      await origin.close();
    }
  });

  it('stops with exit 0 on a SIGTERM sent the moment the listening line is read', async () => {
    for (let round = 0; round < 3; round++) {
      const first = await freePortRange(1);
      const proc = run(['--ports', String(first)]);
      await proc.waitForLine(/stickyport listening/);
      expect(await proc.stop('SIGTERM')).toBe(0);
    }
  });

  it('lets a flag win over the environment and the --config file', async () => {
    const first = await freePortRange(1);
    const proc = run(
      ['--config', writeConfig({ Listen: { PortRange: { Start: 1, End: 2 } }, Logging: { Level: 'warn' } }), '--ports', String(first), '--log-level', 'info'],
      { STICKYPORT_PORT_START: '3', STICKYPORT_PORT_END: '4' },
    );
    expect(JSON.parse(await proc.waitForLine(/stickyport listening/)).ports).toBe(`${first}-${first}`);
  });
});

describe('stickyport check', () => {
  it('prints each value with its origin, secrets masked, exit 0, listening on nothing', async () => {
    const first = await freePortRange(2);
    const file = writeConfig({
      SessionAPI: { Enabled: true, Password: 'apisecret' },
      // An echo service's token rides in the query: shown as ?***.
      Identity: { EchoUrl: 'https://echo.example/ip?token=echosecret' },
      Session: { KeepAlive: '30s', KeepAliveUrl: 'https://ping.example/?key=pingsecret' },
    });
    const { code, stdout, stderr } = await finished(
      ['check', '--config', file, '--ports', `${first}-${first + 1}`, '--upstream', 'http://acme-{session}:upsecret@gate.example:7777'],
      { STICKYPORT_AUTH_USERNAME: 'me', STICKYPORT_REDIS_URL: 'redis://:redissecret@cache:6379' },
    );
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toMatch(/^stickyport .*: the configuration is valid\./);
    expect(stdout).toMatch(new RegExp(`^ {2}Listen\\.PortRange\\.Start +${first} +flag --ports$`, 'm'));
    expect(stdout).toMatch(/^ {2}Upstream\.Url +"http:\/\/acme-\{session\}:\*\*\*@gate\.example:7777" +flag --upstream$/m);
    expect(stdout).toMatch(new RegExp(`^ {2}SessionAPI\\.Password +\\*\\*\\* +--config ${file.replace(/[.\\/]/g, '\\$&')}$`, 'm'));
    expect(stdout).toMatch(/^ {2}SessionStore\.RedisUrl +"redis:\/\/:\*\*\*@cache:6379" +environment variable STICKYPORT_REDIS_URL$/m);
    expect(stdout).toMatch(/^ {2}Authentication\.Username +"me" +environment variable STICKYPORT_AUTH_USERNAME$/m);
    expect(stdout).toMatch(/^ {2}Listen\.Host +"127\.0\.0\.1" +default$/m);
    expect(stdout).toMatch(/^ {2}Identity\.EchoUrl +"https:\/\/echo\.example\/ip\?\*\*\*" +--config /m);
    expect(stdout).not.toMatch(/apisecret|upsecret|redissecret|echosecret|pingsecret/);
    for (const port of [first, first + 1]) expect(await bindable(port)).toBe(true);
  });

  it('masks the query of an echo URL that holds an "@" (an e-mail address), in check and in the exit-2 message', async () => {
    // An "@" in the query was taken for the end of a login: `https://***@example.com&token=SECRET`.
    const echo = 'https://echo.example/ip?user=me@example.com&token=echosecret';
    const checked = await finished(['check', '--config', writeConfig({ Identity: { EchoUrl: echo }, Session: { KeepAliveUrl: 'http://127.0.0.1:8080/ip#me@x&key=pingsecret' } })]);
    expect(checked.stderr).toBe('');
    expect(checked.code).toBe(0);
    expect(checked.stdout).toMatch(/^ {2}Identity\.EchoUrl +"https:\/\/echo\.example\/ip\?\*\*\*" +--config /m);
    // A port is not a password: shown, with the fragment masked.
    expect(checked.stdout).toMatch(/^ {2}Session\.KeepAliveUrl +"http:\/\/127\.0\.0\.1:8080\/ip#\*\*\*" +--config /m);
    const refused = await finished(['check'], { STICKYPORT_IDENTITY_ECHO_URL: echo.replace('https', 'ftp') });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('Identity.EchoUrl = "ftp://echo.example/ip?***" (from environment variable STICKYPORT_IDENTITY_ECHO_URL)');
    expect(`${checked.stdout}${refused.stderr}`).not.toMatch(/echosecret|pingsecret/);
  });

  it('refuses a bad configuration with exit 2 and the very message start-up gives', async () => {
    const args = ['--ports', '10300-10201', '--upstream', 'ftp://acme:hunter2@gate:21'];
    const env = { STICKYPORT_STICKY_LIFETIME: '10 min' };
    const checked = await finished(['check', ...args], env);
    const started = await finished(args, env);
    expect(checked.code).toBe(2);
    expect(started.code).toBe(2);
    expect(checked.stdout).toBe('');
    expect(checked.stderr).toBe(started.stderr);
    expect(checked.stderr).toContain('Upstream.Url = "ftp://acme:***@gate:21" (from flag --upstream)');
    expect(checked.stderr).toContain('(from environment variable STICKYPORT_STICKY_LIFETIME)');
    expect(checked.stderr).not.toContain('hunter2');
  });
});

describe('busy ports', () => {
  it('are summed up in one line with a hint to find the holder, exit 1', async () => {
    const first = await freePortRange(100);
    const blockers = await Promise.all(
      Array.from({ length: 100 }, (_, i) => new Promise<net.Server>((resolve) => {
        const server = net.createServer();
        server.listen(first + i, '127.0.0.1', () => resolve(server));
      })),
    );
    try {
      const { code, stderr } = await finished(['--ports', `${first}-${first + 99}`]);
      expect(code).toBe(1);
      expect(stderr).toBe(
        `stickyport: cannot listen on 127.0.0.1: ports ${first}-${first + 99} (EADDRINUSE) are in use by another program. ` +
          `To see what holds them: ss -ltnp 'sport >= :${first} and sport <= :${first + 99}' (or lsof -nP -iTCP:${first} -sTCP:LISTEN)\n`,
      );
    } finally {
      await Promise.all(blockers.map((server) => new Promise((resolve) => server.close(resolve))));
    }
  });
});
