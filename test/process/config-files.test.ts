import { execFileSync } from 'node:child_process';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { adminClient } from '../helpers/admin.js';
import { freePort, freePortRange } from '../helpers/ports.js';
import { spawnStickyport, writeConfig, type SpawnedStickyport } from '../helpers/spawn-stickyport.js';

// A settings file that is not a regular file, or is too large. Files are read synchronously, so
// a FIFO at appsettings.json made `check` and start-up wait for a writer for ever, and a SIGHUP
// froze a running process (every port, the admin server, SIGTERM) inside readFileSync;
// `--config /dev/zero` read until std::bad_alloc. Now each is refused, naming the file: exit 2,
// or a refused reload that leaves the running configuration in place. And a reload while a file
// the running configuration was read from is gone: it put the built-in defaults in place of the
// file's keys (no upstream, no host rules) and said it applied; now it is refused.

const running: SpawnedStickyport[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((proc) => proc.stop('SIGKILL')));
});

function spawn(args: string[], env: NodeJS.ProcessEnv = {}, cwd?: string): SpawnedStickyport {
  const proc = spawnStickyport(args, env, { cwd });
  running.push(proc);
  return proc;
}

/** The exit code, or 'hung' when the process was still running after `ms` (it is killed then). */
async function exitWithin(proc: SpawnedStickyport, ms = 10_000): Promise<number | null | 'hung'> {
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<'hung'>((resolve) => (timer = setTimeout(() => resolve('hung'), ms)));
  const outcome = await Promise.race([proc.exited, hung]);
  clearTimeout(timer);
  return outcome;
}

const folder = (): string => mkdtempSync(path.join(tmpdir(), 'stickyport-files-'));

function fifoAt(file: string): string {
  execFileSync('mkfifo', [file]);
  return file;
}

describe('a settings file that is not a regular file, or too large', () => {
  it('check with a FIFO as ./appsettings.json exits 2 naming it, instead of waiting for a writer', async () => {
    const cwd = folder();
    const file = fifoAt(path.join(cwd, 'appsettings.json'));
    const proc = spawn(['check'], {}, cwd);
    expect(await exitWithin(proc)).toBe(2);
    expect(proc.stderr.join('')).toBe(`stickyport: config file ${file} is a FIFO (named pipe), not a regular file: settings are read from regular files only, since a reload reads them again (a pipe such as <(...) or /dev/stdin could not be): write them to a file\n`);
  });

  it('start with a FIFO as appsettings.<NODE_ENV>.json exits 2 naming it', async () => {
    const cwd = folder();
    const first = await freePortRange(1);
    const file = fifoAt(path.join(cwd, 'appsettings.staging.json'));
    const proc = spawn([], { NODE_ENV: 'staging', STICKYPORT_PORT_START: String(first), STICKYPORT_PORT_END: String(first) }, cwd);
    expect(await exitWithin(proc)).toBe(2);
    expect(proc.stderr.join('')).toContain(`config file ${file} is a FIFO (named pipe)`);
    expect(proc.stdout.join('\n')).toBe('');
  });

  it('check --config /dev/zero exits 2 naming it, instead of reading without end', async () => {
    const proc = spawn(['check', '--config', '/dev/zero']);
    expect(await exitWithin(proc)).toBe(2);
    expect(proc.stderr.join('')).toContain('config file /dev/zero is a character device, not a regular file');
  });

  it('check with a --config file over 4 MiB exits 2 naming it and the limit', async () => {
    const file = path.join(folder(), 'big.json');
    // Valid JSON: only its size is wrong.
    writeFileSync(file, `{${' '.repeat(4 * 1024 * 1024)}}`);
    const proc = spawn(['check', '--config', file]);
    expect(await exitWithin(proc)).toBe(2);
    expect(proc.stderr.join('')).toBe(`stickyport: config file ${file} is larger than 4 MiB, the most a settings file may hold\n`);
  });

  it('a reload while the --config file is a FIFO is refused (SIGHUP logged, POST 422), and the process serves on and stops on SIGTERM', async () => {
    const first = await freePortRange(1);
    const adminPort = await freePort();
    const file = writeConfig({ Listen: { PortRange: { Start: first, End: first } }, Admin: { Enabled: true, Port: adminPort } });
    const proc = spawn(['--config', file]);
    await proc.waitForLine(/stickyport listening/);
    renameSync(file, `${file}.real`);
    fifoAt(file);

    proc.child.kill('SIGHUP');
    const refused = JSON.parse(await proc.waitForLine(/configuration not reloaded/)) as { msg: string; by: string };
    expect(refused).toMatchObject({ by: 'SIGHUP' });
    expect(refused.msg).toContain(`config file ${file} is a FIFO (named pipe)`);
    const admin = adminClient(adminPort);
    const answer = await admin.post('/api/reload');
    expect(answer.status).toBe(422);
    expect(answer.json).toMatchObject({ applied: false, code: 'CONFIG_INVALID', message: expect.stringContaining(`config file ${file} is a FIFO`) });
    expect((await admin.get('/healthz')).json).toMatchObject({ status: 'ok', ports: 1 });
    proc.child.kill('SIGTERM');
    expect(await exitWithin(proc)).toBe(0);
  });
});

describe('a reload while a settings file the running configuration was read from is gone', () => {
  it('is refused naming the file (SIGHUP logged, POST 422), keeps the running configuration, and applies once the file is back', async () => {
    const cwd = folder();
    const file = path.join(cwd, 'appsettings.json');
    const settings = (requestUrls: boolean): string =>
      JSON.stringify({ SessionAPI: { Enabled: true }, HostRules: [{ Pattern: 'blocked.example', Action: 'Deny' }], Logging: { RequestUrls: requestUrls } });
    writeFileSync(file, settings(false));
    const first = await freePortRange(1);
    const adminPort = await freePort();
    // Ports and the admin server from the environment: the defaults would bind 10201-10300.
    const proc = spawn([], { STICKYPORT_PORT_START: String(first), STICKYPORT_PORT_END: String(first), STICKYPORT_ADMIN_ENABLED: 'true', STICKYPORT_ADMIN_PORT: String(adminPort) }, cwd);
    await proc.waitForLine(/stickyport listening/);
    rmSync(file);

    proc.child.kill('SIGHUP');
    const refused = JSON.parse(await proc.waitForLine(/configuration not reloaded/)) as { msg: string };
    expect(refused.msg).toContain(`config file ${file} is gone: the running configuration was read from it`);
    const admin = adminClient(adminPort);
    const answer = await admin.post('/api/reload');
    expect(answer.status).toBe(422);
    expect(answer.json).toMatchObject({ applied: false, code: 'CONFIG_INVALID', message: expect.stringContaining(`config file ${file} is gone`) });
    expect(proc.stdout.join('\n')).not.toContain('configuration reloaded');

    writeFileSync(file, settings(true));
    const applied = await admin.post('/api/reload');
    expect(applied.status).toBe(200);
    // Only what the file changed: the host rules and the session API were never dropped.
    expect(applied.json).toMatchObject({ applied: true, changed: ['Logging.RequestUrls'] });
  });
});
