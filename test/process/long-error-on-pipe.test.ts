import { spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { expect, it } from 'vitest';
import { writeConfig } from '../helpers/spawn-stickyport.js';

// A configuration with thousands of problems makes a message of hundreds of KB. On a pipe
// (systemd, Docker, CI, `2>&1 | less`) a write is asynchronous, and the process exited straight
// after starting it: whatever the pipe had not taken (past its 64 KiB) was lost, the last line
// cut mid-word (an adversarial pass). The exit now waits until stderr took the whole text.

const MAIN = path.resolve(import.meta.dirname, '../../dist/main.js');
const KEYS = 5_000;

it('a refusal with 5 000 problems reaches a pipe that is read late whole, ending with its last problem, exit 2', async () => {
  const settings = Object.fromEntries(Array.from({ length: KEYS }, (_, i) => [`UnknownKey${i}`, i]));
  const file = writeConfig(settings);
  const child = spawn(process.execPath, [MAIN, 'check', '--config', file], { stdio: ['ignore', 'ignore', 'pipe'], env: { PATH: process.env.PATH } });
  // Nothing is read until the child had time to write and, before the fix, to exit.
  child.stderr.pause();
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 1_000))]);
  const chunks: Buffer[] = [];
  child.stderr.on('data', (chunk: Buffer) => chunks.push(chunk));
  child.stderr.resume();
  await once(child.stderr, 'end');
  expect(await exited).toBe(2);
  const text = Buffer.concat(chunks).toString('utf8');
  expect(text.length).toBeGreaterThan(128 * 1024);
  expect(text).toContain(`UnknownKey${KEYS - 1}`);
  expect(text.endsWith('\n')).toBe(true);
}, 30_000);

/** `check` refusing 5 000 problems into a stderr pipe that is never read. */
function refusingIntoUnreadPipe(): { child: ReturnType<typeof spawn>; exited: Promise<number | null>; startedAt: number } {
  const settings = Object.fromEntries(Array.from({ length: KEYS }, (_, i) => [`UnknownKey${i}`, i]));
  const child = spawn(process.execPath, [MAIN, 'check', '--config', writeConfig(settings)], { stdio: ['ignore', 'ignore', 'pipe'], env: { PATH: process.env.PATH } });
  child.stderr!.pause();
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, exited, startedAt: Date.now() };
}

it('a pipe nobody reads holds the refusal 5 s at most, then exit 2 (the review: it hung for good)', async () => {
  const { child, exited, startedAt } = refusingIntoUnreadPipe();
  try {
    expect(await exited).toBe(2);
    expect(Date.now() - startedAt).toBeLessThan(9_000);
  } finally {
    child.kill('SIGKILL');
  }
}, 20_000);

it('a stop signal while the refusal waits for its pipe ends it at once, still exit 2', async () => {
  const { child, exited } = refusingIntoUnreadPipe();
  try {
    // Written what the pipe takes, and waiting for the rest: the first bytes are there.
    await once(child.stderr!, 'readable');
    const signalledAt = Date.now();
    child.kill('SIGTERM');
    expect(await exited).toBe(2);
    expect(Date.now() - signalledAt).toBeLessThan(2_000);
  } finally {
    child.kill('SIGKILL');
  }
}, 20_000);
