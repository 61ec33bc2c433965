import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { lockSessionFile } from '../../src/store/file-lock.js';

// The session file's lock against processes racing for it. Two started at the same moment both
// took it: after a kill -9 (both judged the dead pid's lock stale, and the second removed the
// lock the first had just made), and even from nothing (the lock was empty between its creation
// and its pid, and an empty lock counted as stale).

const LOCK_MODULE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist/store/file-lock.js');

/** One racer process: spins until `at`, tries the lock, says OK or REFUSED, holds it a moment. */
function racer(file: string, at: number): Promise<string> {
  const code = `
    const { lockSessionFile } = await import(${JSON.stringify(LOCK_MODULE)});
    while (Date.now() < ${at}) {}
    try { await lockSessionFile(${JSON.stringify(file)}); console.log('OK'); } catch { console.log('REFUSED'); }
    setTimeout(() => process.exit(0), 400);`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.on('error', reject);
    child.on('exit', () => resolve(out.trim()));
  });
}

/** A pid no process has: one that has just exited. */
function deadPid(): number {
  return Number(execFileSync(process.execPath, ['-e', 'console.log(process.pid)']).toString());
}

describe('the session file lock', () => {
  it.each([
    ['no lock yet', false],
    ['a stale lock of a dead process', true],
  ])('two processes racing for it (%s): exactly one gets it, 12 times of 12', async (_, stale) => {
    const wrong: string[] = [];
    for (let trial = 0; trial < 12; trial++) {
      const file = path.join(mkdtempSync(path.join(tmpdir(), 'stickyport-lock-')), 'sessions.json');
      if (stale) writeFileSync(`${file}.lock`, `${deadPid()}\n`);
      const at = Date.now() + 400;
      const answers = (await Promise.all([racer(file, at), racer(file, at)])).sort();
      if (answers.join() !== 'OK,REFUSED') wrong.push(`trial ${trial}: ${answers.join(' and ')}`);
    }
    expect(wrong).toEqual([]);
  }, 60_000);

  it('a live process that is not a stickyport (a pid reused after a reboot) does not hold it', async () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'stickyport-lock-')), 'sessions.json');
    // pid 1 of this machine or container runs something, and its command line names no node.
    const init = readFileSync('/proc/1/cmdline', 'utf8');
    if (/node|stickyport/i.test(init)) return;
    writeFileSync(`${file}.lock`, '1\n');
    const unlock = await lockSessionFile(file);
    expect(readFileSync(`${file}.lock`, 'utf8')).toBe(`${process.pid}\n`);
    await unlock();
  });

  it('a directory at the lock path refuses, naming it', async () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'stickyport-lock-')), 'sessions.json');
    mkdirSync(`${file}.lock`);
    await expect(lockSessionFile(file)).rejects.toThrow(`${file}.lock is not a file`);
  });

  it('unlocking removes only its own lock, never one another process took over', async () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'stickyport-lock-')), 'sessions.json');
    const unlock = await lockSessionFile(file);
    writeFileSync(`${file}.lock`, '424242\n');
    await unlock();
    expect(readFileSync(`${file}.lock`, 'utf8')).toBe('424242\n');
  });

  // A lock holds a pid. A huge one (here sparse, 300 MB) was read whole, twice, into a string:
  // 634 MB at start for 1.5 GB. Read through a 64-byte cap, it is a lock with no pid: stale.
  it('a huge lock file is not read whole: it is taken over as stale, in a 64 MB heap', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'stickyport-lock-'));
    const file = path.join(dir, 'sessions.json');
    writeFileSync(`${file}.lock`, '');
    truncateSync(`${file}.lock`, 300 * 1024 * 1024);
    const code = `
      const { lockSessionFile } = await import(${JSON.stringify(LOCK_MODULE)});
      await lockSessionFile(${JSON.stringify(file)});
      console.log('OK');`;
    const out = await new Promise<string>((resolve, reject) => {
      const child = spawn(process.execPath, ['--max-old-space-size=64', '--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'ignore'] });
      let text = '';
      child.stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
      child.on('error', reject);
      child.on('exit', (status, signal) => resolve(`${text.trim()} ${status ?? signal}`));
    });
    expect(out).toBe('OK 0');
    expect(readFileSync(`${file}.lock`, 'utf8')).toMatch(/^\d+\n$/);
  });
});

