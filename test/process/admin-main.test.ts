import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { adminClient } from '../helpers/admin.js';
import { request } from '../helpers/client.js';
import { eventually } from '../helpers/eventually.js';
import { startOrigin } from '../helpers/origin.js';
import { freePort, freePortRange } from '../helpers/ports.js';
import { spawnStickyport, writeConfig, type SpawnedStickyport } from '../helpers/spawn-stickyport.js';

// The real entry point: the admin server as configured, SIGHUP re-reading the --config file
// (a widened range, then a broken file that is refused while the process serves on), and the
// start-up refusal of an admin server off loopback without a token.

const running: SpawnedStickyport[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((proc) => proc.stop('SIGKILL')));
});

function start(args: string[], env: NodeJS.ProcessEnv = {}): SpawnedStickyport {
  const proc = spawnStickyport(args, env);
  running.push(proc);
  return proc;
}

/** The Dockerfile's HEALTHCHECK command, run here as Docker would run it in the container. */
function healthcheck(url: string): Promise<number | null> {
  const dockerfile = readFileSync(path.resolve(import.meta.dirname, '../../Dockerfile'), 'utf8');
  const command = JSON.parse(/^HEALTHCHECK .*\\\n\s*CMD (\[.*\])$/m.exec(dockerfile)![1]!) as string[];
  expect(command[0]).toBe('node');
  return new Promise((resolve) => {
    execFile(process.execPath, command.slice(1), { env: { HEALTHCHECK_URL: url }, timeout: 10_000 }, (error) => {
      resolve(error ? (typeof error.code === 'number' ? error.code : null) : 0);
    });
  });
}

const lines = (proc: SpawnedStickyport): Array<Record<string, any>> =>
  proc.stdout.flatMap((line) => {
    try {
      return [JSON.parse(line) as Record<string, any>];
    } catch {
      return [];
    }
  });

describe('node dist/main.js with the admin server', () => {
  it('serves the probes and the API, reloads on SIGHUP, refuses a broken file and serves on, and exits 0', async () => {
    const origin = await startOrigin();
    try {
      const first = await freePortRange(3);
      const adminPort = await freePort();
      const settings = (end: number): object => ({ Listen: { PortRange: { Start: first, End: end } }, Admin: { Enabled: true, Port: adminPort } });
      const file = writeConfig(settings(first + 1));
      const proc = start(['--config', file]);
      const ready = JSON.parse(await proc.waitForLine(/stickyport listening/));
      expect(ready.admin).toBe(`http://127.0.0.1:${adminPort}/`);
      const admin = adminClient(adminPort);
      expect((await admin.get('/healthz')).json).toMatchObject({ status: 'ok', ports: 2 });
      expect(await healthcheck(`http://127.0.0.1:${adminPort}/healthz`)).toBe(0);
      expect(await healthcheck(`http://127.0.0.1:${first + 2}/healthz`)).toBe(1);
      expect((await request(first, `${origin.url}/`)).status).toBe(200);
      await proc.waitForLine(/"msg":"request completed"/);

      writeFileSync(file, JSON.stringify(settings(first + 2)));
      proc.child.kill('SIGHUP');
      const reloaded = JSON.parse(await proc.waitForLine(/"msg":"configuration reloaded"/));
      expect(reloaded).toMatchObject({ by: 'SIGHUP', changed: ['Listen.PortRange'], added: String(first + 2) });
      expect((await request(first + 2, `${origin.url}/`)).status).toBe(200);
      expect((await admin.get('/api/ports')).json.total).toBe(3);

      writeFileSync(file, '{ "Listen": { "PortRange": { "Start": 0 } } }');
      proc.child.kill('SIGHUP');
      const refused = JSON.parse(await proc.waitForLine(/configuration not reloaded/));
      expect(refused.msg).toContain('Listen.PortRange.Start = 0');
      expect((await request(first + 2, `${origin.url}/`)).status).toBe(200);
      expect(proc.child.exitCode).toBeNull();

      expect(await proc.stop('SIGTERM')).toBe(0);
      await eventually(() => lines(proc).some((line) => line.msg === 'stopped'), 'the stopped line');
    } finally {
      await origin.close();
    }
  });

  it('exits 2 naming Admin.Token when the admin server would listen off loopback without one', async () => {
    const first = await freePortRange(1);
    const proc = start(['--config', writeConfig({ Listen: { PortRange: { Start: first, End: first } }, Admin: { Enabled: true, Host: '0.0.0.0' } })]);
    expect(await proc.exited).toBe(2);
    const text = proc.stderr.join('');
    expect(text).toContain('Admin.Token');
    expect(text).toContain('not a loopback address');
  });

  it('exits 1 naming the admin server when its port is taken, leaving no port bound', async () => {
    const first = await freePortRange(3);
    const squatter = start(['--config', writeConfig({ Listen: { PortRange: { Start: first + 1, End: first + 1 } } })]);
    await squatter.waitForLine(/stickyport listening/);
    // Admin.Port "auto" is the port below the range, which another stickyport holds.
    const proc = start(['--config', writeConfig({ Listen: { PortRange: { Start: first + 2, End: first + 2 } }, Admin: { Enabled: true } })]);
    expect(await proc.exited).toBe(1);
    expect(proc.stderr.join('')).toContain(`admin server (Admin.Host, Admin.Port): cannot listen on 127.0.0.1: port ${first + 1} (EADDRINUSE) is in use by another program`);
    // Ranges that touch: "auto" took the other's last port, and the message says where the port came from.
    expect(proc.stderr.join('')).toContain(`(Admin.Port "auto" took the port below the first proxy port; another stickyport whose range ends at ${first + 1} holds it, if one runs: set Admin.Port, or Admin.Enabled false)`);
    const probe = start(['--config', writeConfig({ Listen: { PortRange: { Start: first + 2, End: first + 2 } } })]);
    await probe.waitForLine(/stickyport listening/);
  });

  // The "auto" hint blamed another stickyport for an address that is not this machine's, and
  // the address was called Listen.Host.
  it('an admin address that is not this machine\'s is named as Admin.Host, with no hint about another instance', async () => {
    const first = await freePortRange(2);
    const proc = start(['--config', writeConfig({ Listen: { PortRange: { Start: first + 1, End: first + 1 } }, Admin: { Enabled: true, Host: '192.0.2.1', Token: 'a-token-long-enough-1234' } })]);
    expect(await proc.exited).toBe(1);
    const text = proc.stderr.join('');
    expect(text).toContain("not available: the address is not one of this machine's (Admin.Host)");
    expect(text).not.toContain('another stickyport');
  });
});
