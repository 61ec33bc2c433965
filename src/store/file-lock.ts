import { open, readFile, rm } from 'node:fs/promises';
import { StickyportError } from '../errors.js';

/**
 * `<file>.lock`, holding the pid of the process that saves to `file`. Two processes saving to
 * one file would each overwrite the other's sessions with its own, and each answer what the
 * other then loses: the second refuses to start. A lock left by a process that died (kill -9)
 * is taken over. Within one process the file may be opened again (a store reopened after
 * close, tests), so a lock holding this pid counts as ours.
 */
export async function lockSessionFile(file: string): Promise<() => Promise<void>> {
  const lock = `${file}.lock`;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(lock, 'wx', 0o600);
      await handle.writeFile(`${process.pid}\n`);
      await handle.close();
      return () => rm(lock, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const holder = Number.parseInt(await readFile(lock, 'utf8').catch(() => ''), 10);
    if (holder === process.pid) return async () => undefined;
    if (Number.isInteger(holder) && holder > 0 && alive(holder)) {
      throw new StickyportError(
        'STORE_UNAVAILABLE',
        `SessionStore.Path ${file} is in use by another stickyport (pid ${holder}, lock ${lock}): one process per file. ` +
          'Give each instance a file of its own, or share sessions through SessionStore.Type "redis"',
      );
    }
    // Left by a process that is gone (or unreadable): take it over.
    await rm(lock, { force: true });
  }
  throw new StickyportError('STORE_UNAVAILABLE', `cannot lock ${lock}: another process keeps creating it`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, as another user's process.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
