import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

/**
 * Vitest global setup: one temporary folder per test run. TMPDIR is set before the test workers
 * start, so every mkdtemp under os.tmpdir() in a test (config folders, stores, browser profiles:
 * some thousands per run) lands in it, and the run removes it when it ends instead of leaving
 * them all in /tmp. Child processes the tests start with their own clean environment still use
 * the system's /tmp; none of them writes there.
 */
export default function runTmpdir(): () => void {
  const root = mkdtempSync(path.join(tmpdir(), 'stickyport-run-'));
  const previous = process.env.TMPDIR;
  process.env.TMPDIR = root;
  return () => {
    if (previous === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previous;
    try {
      rmSync(root, { recursive: true, force: true });
    } catch (error) {
      process.stderr.write(`could not remove the test run's temporary folder ${root}: ${(error as Error).message}\n`);
    }
  };
}
