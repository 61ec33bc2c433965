import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { freePortRange } from '../helpers/ports.js';

// What a new user does: `npm pack`, then in an empty folder `npm install ./stickyport-*.tgz`
// and `npx stickyport --help`. No build step and no dev dependency may be needed. It runs on
// the dist/ that `npm test` built (pack with --ignore-scripts: the prepack rebuild would
// rewrite dist/ under the other test files' feet), and installs from the npm cache first.

const ROOT = path.resolve(import.meta.dirname, '../..');
const run = promisify(execFile);
const work = mkdtempSync(path.join(tmpdir(), 'stickyport-pack-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** The environment without npm's own variables: `npm test` sets npm_config_* for its children. */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^npm_/i.test(name)));
}

async function npm(args: string[], cwd: string): Promise<{ stdout: string; stderr: string }> {
  return run('npm', args, { cwd, env: cleanEnv(), timeout: 90_000, maxBuffer: 16 * 1024 * 1024 });
}

describe('the npm package', () => {
  it('installs from its tarball in an empty folder and runs with no build and no dev dependency', { timeout: 180_000 }, async () => {
    const packed = path.join(work, 'packed');
    mkdirSync(packed);
    await npm(['pack', '--ignore-scripts', '--pack-destination', packed], ROOT);
    const [tarball] = readdirSync(packed).filter((name) => /^stickyport-.*\.tgz$/.test(name));
    expect(tarball).toBeDefined();

    const app = path.join(work, 'empty');
    mkdirSync(app);
    const install = await npm(['install', '--prefer-offline', '--no-audit', '--no-fund', path.join(packed, tarball!)], app);
    expect(install.stderr).not.toMatch(/npm (warn|error)/i);
    const modules = path.join(app, 'node_modules');
    for (const dev of ['typescript', 'vitest', 'tsx', 'pino-pretty', 'esbuild']) expect(existsSync(path.join(modules, dev)), dev).toBe(false);
    expect(existsSync(path.join(modules, 'stickyport', 'src'))).toBe(false);
    expect(existsSync(path.join(modules, 'stickyport', 'dist', 'main.js'))).toBe(true);

    const help = await run('npx', ['stickyport', '--help'], { cwd: app, env: cleanEnv(), timeout: 30_000 });
    expect(help.stdout).toMatch(/^stickyport \d+\.\d+\.\d+: /);
    expect(help.stdout).toContain('--upstream URL');
    const version = await run('npx', ['stickyport', '--version'], { cwd: app, env: cleanEnv(), timeout: 30_000 });
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);

    // And it serves, with its status page: the installed bin, on free ports, until SIGTERM.
    const admin = await freePortRange(3);
    const first = admin + 1;
    const env = { ...cleanEnv(), STICKYPORT_ADMIN_ENABLED: 'true' };
    const child = spawn(path.join(modules, '.bin', 'stickyport'), ['--ports', `${first}-${first + 1}`], { cwd: app, env });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    let stdout = '';
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        if (stdout.includes('stickyport listening')) resolve();
      });
      void exited.then((code) => reject(new Error(`exited ${code} before listening: ${stdout}`)));
    });
    expect(JSON.parse(stdout.split('\n')[0]!)).toMatchObject({ msg: 'stickyport listening', ports: `${first}-${first + 1}`, admin: `http://127.0.0.1:${admin}/` });
    for (const [file, type] of [['/', 'text/html'], ['/app.js', 'text/javascript'], ['/style.css', 'text/css']]) {
      const answer = await fetch(`http://127.0.0.1:${admin}${file}`);
      expect(answer.status, file).toBe(200);
      expect(answer.headers.get('content-type'), file).toContain(type);
    }
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
