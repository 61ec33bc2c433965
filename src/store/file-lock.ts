import { link, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { readRegularFile } from '../config/regular-file.js';
import { StickyportError } from '../errors.js';

/**
 * `<file>.lock`, holding the pid of the process that saves to `file`. Two processes saving to
 * one file would each overwrite the other's sessions with its own, and each answer what the
 * other then loses: the second refuses to start. A lock left by a process that died (kill -9)
 * is taken over. Within one process the file may be opened again (a store reopened after
 * close, tests), so a lock holding this pid counts as ours.
 *
 * The lock appears whole or not at all (a temp file with the pid, hard-linked into place, which
 * fails if a lock is there): a racer never reads an empty lock and takes it for stale. A stale
 * lock is renamed away before a new one is linked; only one racer's rename of it succeeds, and
 * one that moved a lock it did not judge (a fresh one) puts it back.
 */
export async function lockSessionFile(file: string): Promise<() => Promise<void>> {
  const lock = `${file}.lock`;
  const mine = `${process.pid}\n`;
  const temp = `${lock}.${process.pid}.tmp`;
  await writeFile(temp, mine, { mode: 0o600 });
  try {
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        await link(temp, lock);
        return async () => {
          // Only our own lock: never one a later process took over.
          if ((await readLock(lock)) === mine) await rm(lock, { force: true });
        };
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      if (!(await stat(lock)).isFile()) {
        throw new StickyportError('STORE_UNAVAILABLE', `cannot lock ${file}: ${lock} is not a file; remove it`);
      }
      const held = await readLock(lock);
      const holder = Number.parseInt(held, 10);
      if (holder === process.pid) return async () => undefined;
      if (Number.isInteger(holder) && holder > 0 && (await isStickyport(holder))) {
        throw new StickyportError(
          'STORE_UNAVAILABLE',
          `SessionStore.Path ${file} is in use by another stickyport (pid ${holder}, lock ${lock}): one process per file. ` +
            'Give each instance a file of its own, or share sessions through SessionStore.Type "redis"',
        );
      }
      // Left by a process that is gone: move it aside, unless another racer did first.
      const aside = `${lock}.stale-${process.pid}`;
      try {
        await rename(lock, aside);
      } catch {
        continue;
      }
      const moved = await readLock(aside);
      // Not the stale lock judged above, but one a racer has just taken: give it back.
      if (moved !== held) await link(aside, lock).catch(() => undefined);
      await rm(aside, { force: true });
    }
    throw new StickyportError('STORE_UNAVAILABLE', `cannot lock ${file}: other processes keep taking ${lock}`);
  } finally {
    await rm(temp, { force: true });
  }
}

// A pid and a line end. A larger lock is none of ours, and read whole it costs its size in memory
// (a sparse 1.5 GB lock took 634 MB at start): like an empty one, it holds no pid and is stale.
const MAX_LOCK_BYTES = 64;

/** The lock's text, '' when it holds none a stickyport writes (gone, unreadable, too large). */
function readLock(lock: string): Promise<string> {
  return readRegularFile(lock, MAX_LOCK_BYTES).catch(() => '');
}

/**
 * A live process that may be a stickyport: on Linux its command line names node or stickyport
 * (after a reboot a dead stickyport's pid may belong to anything); elsewhere any live process.
 */
async function isStickyport(pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch (error) {
    // EPERM: it exists, as another user's process.
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const command = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => undefined);
  return command === undefined || /node|stickyport/i.test(command);
}
