import { randomBytes } from 'node:crypto';
import { open, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';

/** `<file>.<pid>.<8 hex>.tmp`: the name of a write in progress, unique per process and write. */
function tempName(file: string): string {
  return `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Temp file in the same folder, fsync, rename over the target, fsync the folder. */
export async function writeAtomically(file: string, text: string): Promise<void> {
  const temp = tempName(file);
  try {
    const handle = await open(temp, 'w', 0o600);
    try {
      await handle.writeFile(text);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, file);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  // Makes the rename itself durable; not every platform can open a folder, which is fine.
  const folder = await open(path.dirname(file), 'r').catch(() => undefined);
  await folder?.sync().catch(() => undefined);
  await folder?.close();
}

/**
 * Removes the temp files that writeAtomically left for `file` when a process died between
 * creating one and renaming it (kill -9, power loss). Only names of exactly that pattern: any
 * other file in the folder is someone else's. One process per file, so at open none is live.
 */
export async function removeStaleTemps(file: string): Promise<string[]> {
  const pattern = new RegExp(`^${escapeRegExp(path.basename(file))}\\.\\d+\\.[0-9a-f]{8}\\.tmp$`);
  const folder = path.dirname(file);
  const stale = (await readdir(folder)).filter((name) => pattern.test(name));
  await Promise.all(stale.map((name) => rm(path.join(folder, name), { force: true })));
  return stale;
}
