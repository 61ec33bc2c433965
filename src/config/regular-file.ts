import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from 'node:fs';
import { open } from 'node:fs/promises';
import { fileKind } from './file-kind.js';

// The reads of a settings file (config/json-file.ts) and of the session file (store/file-store.ts):
// from a regular file only, and never past a limit. A FIFO would block until something wrote
// into it (a plain open of one waits for a writer too, hence O_NONBLOCK, which changes nothing
// for a regular file), and a device such as /dev/zero never ends.

/** The path holds something other than a regular file; `code` is EISDIR for a directory. */
export class NotARegularFile extends Error {
  readonly code: string | undefined;

  constructor(readonly kind: string) {
    super(`${kind}, not a regular file`);
    this.code = kind === 'a directory' ? 'EISDIR' : undefined;
  }
}

/** The file holds more than the caller's limit (as its size said, or as read). */
export class FileTooLarge extends Error {
  constructor(readonly bytes: number, readonly limit: number) {
    super(`larger than ${limit / 1024 / 1024} MiB (${bytes} bytes)`);
  }
}

const FLAGS = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0);

/** The size of each read for a file of this size: the whole file at once when it is small. */
function checked(stats: Stats, limit: number): number {
  if (!stats.isFile()) throw new NotARegularFile(fileKind(stats));
  if (stats.size > limit) throw new FileTooLarge(stats.size, limit);
  return Math.min(1024 * 1024, Math.max(64 * 1024, stats.size + 1));
}

/** Reads gathered up to the limit: read to the end, not to the size fstat gave (a file may grow, /proc reports none). */
class Gathered {
  private readonly chunks: Buffer[] = [];
  private length = 0;

  constructor(private readonly limit: number) {}

  /** Keeps `bytes` bytes of `buffer`; false at the end of the file. */
  add(buffer: Buffer, bytes: number): boolean {
    if (bytes === 0) return false;
    this.chunks.push(buffer.subarray(0, bytes));
    this.length += bytes;
    if (this.length > this.limit) throw new FileTooLarge(this.length, this.limit);
    return true;
  }

  text(decode: (bytes: Buffer) => string = utf8): string {
    return decode(Buffer.concat(this.chunks, this.length));
  }
}

const utf8 = (bytes: Buffer): string => bytes.toString('utf8');

/** The text of a regular file of at most `limit` bytes, read synchronously (start-up, reload). */
export function readRegularFileSync(file: string, limit: number, decode?: (bytes: Buffer) => string): string {
  const fd = openSync(file, FLAGS);
  try {
    const chunkSize = checked(fstatSync(fd), limit);
    const gathered = new Gathered(limit);
    for (;;) {
      const buffer = Buffer.allocUnsafe(chunkSize);
      if (!gathered.add(buffer, readSync(fd, buffer, 0, chunkSize, null))) return gathered.text(decode);
    }
  } finally {
    closeSync(fd);
  }
}

/** The text of a regular file of at most `limit` bytes. */
export async function readRegularFile(file: string, limit: number): Promise<string> {
  const handle = await open(file, FLAGS);
  try {
    const chunkSize = checked(await handle.stat(), limit);
    const gathered = new Gathered(limit);
    for (;;) {
      const { bytesRead, buffer } = await handle.read({ buffer: Buffer.allocUnsafe(chunkSize) });
      if (!gathered.add(buffer, bytesRead)) return gathered.text();
    }
  } finally {
    await handle.close();
  }
}
