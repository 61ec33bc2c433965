import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../logging/logger.js';
import { isLive, reviveSession, type Session } from '../session/session.js';
import { MemorySessionStore } from './memory-store.js';

export interface FileStoreOptions {
  readonly path: string;
  readonly log: Logger;
  readonly now?: () => number;
  /** Replaces the atomic write (tests count and pace writes with it). */
  readonly write?: (file: string, text: string) => Promise<void>;
}

/** Version 1 of the file: `{ "version": 1, "sessions": [Session, ...] }`. */
const FORMAT_VERSION = 1;

/**
 * Sessions in memory, saved to one JSON file so that they survive a restart. Saves are atomic
 * (a reader or a crash sees the old file or the new one, never half of one) and coalesced: at
 * most one write runs, and every change made meanwhile lands in the single write that follows.
 */
export class FileSessionStore extends MemorySessionStore {
  override readonly kind = 'file';
  /** Bumped by every change; the file holds `savedChanges` of them. */
  private changes = 0;
  private savedChanges = 0;
  private saving: Promise<void> | undefined;
  private failing = false;
  /** False when the file on disk could not be read or moved aside: saving would destroy it. */
  private persist = true;
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly file: string,
    private readonly log: Logger,
    private readonly write: (file: string, text: string) => Promise<void>,
    private readonly clock: () => number,
  ) {
    super(clock);
  }

  /** Creates the folder if needed and loads the file, so that the store is ready to use. */
  static async open(options: FileStoreOptions): Promise<FileSessionStore> {
    const file = path.resolve(options.path);
    const store = new FileSessionStore(file, options.log, options.write ?? writeAtomically, options.now ?? Date.now);
    try {
      await mkdir(path.dirname(file), { recursive: true });
    } catch (error) {
      // Not fatal: requests are still served; reading or saving the file then fails and says so.
      options.log.error({ err: error, path: file }, 'cannot create the session folder');
    }
    await store.load();
    return store;
  }

  override close(): Promise<void> {
    this.closing ??= (async () => {
      await super.close();
      await this.saving;
      // The last save may have failed, or the last change came after it began.
      if (this.savedChanges < this.changes) await this.save();
      if (this.savedChanges < this.changes) throw new Error(`could not save the sessions to ${this.file}`);
    })();
    return this.closing;
  }

  protected override changed(): void {
    if (!this.persist) return;
    this.changes++;
    this.saving ??= this.save();
  }

  private async save(): Promise<void> {
    try {
      // Let the changes made in the same tick join this write.
      await Promise.resolve();
      while (this.savedChanges < this.changes) {
        const changes = this.changes;
        this.sweep();
        await this.write(this.file, JSON.stringify({ version: FORMAT_VERSION, sessions: [...this.sessions.values()] }));
        this.savedChanges = changes;
        if (this.failing) this.log.info({ path: this.file }, 'session file saved again');
        this.failing = false;
      }
    } catch (error) {
      // Logged once per failing streak; the next change (or close) tries again.
      if (!this.failing) this.log.error({ err: error, path: this.file }, 'cannot save the session file');
      this.failing = true;
    } finally {
      // No await between the last count check and this line: a change after it starts a new save.
      this.saving = undefined;
    }
  }

  private async load(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      this.persist = false;
      this.log.error({ err: error, path: this.file }, 'cannot read the session file: starting empty, sessions will not be saved');
      return;
    }
    const sessions = parseSessionFile(text);
    if (!sessions) {
      await this.moveAside();
      return;
    }
    const now = this.clock();
    const live = sessions.filter((session) => isLive(session, now));
    for (const session of live) this.sessions.set(session.port, session);
    this.log.info({ path: this.file, loaded: live.length, expired: sessions.length - live.length }, 'sessions loaded');
  }

  /** Keeps a corrupt file for a human to look at; a later save must never overwrite it. */
  private async moveAside(): Promise<void> {
    const aside = `${this.file}.corrupt-${new Date(this.clock()).toISOString().replace(/[:.]/g, '-')}`;
    try {
      await rename(this.file, aside);
      this.log.warn({ path: this.file, movedTo: aside }, 'the session file is corrupt: moved it aside, starting empty');
    } catch (error) {
      this.persist = false;
      this.log.error({ err: error, path: this.file }, 'the session file is corrupt and cannot be moved aside: starting empty, sessions will not be saved');
    }
  }
}

/** The sessions of a file's text, or undefined when the text is not a valid session file. */
function parseSessionFile(text: string): Session[] | undefined {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof data !== 'object' || data === null) return undefined;
  const { version, sessions } = data as { version?: unknown; sessions?: unknown };
  if (version !== FORMAT_VERSION || !Array.isArray(sessions)) return undefined;
  const parsed = sessions.map(reviveSession);
  return parsed.every((session) => session !== undefined) ? (parsed as Session[]) : undefined;
}

/** Temp file in the same folder, fsync, rename over the target, fsync the folder. */
async function writeAtomically(file: string, text: string): Promise<void> {
  const temp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
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
