import { lstat, mkdir, readlink, realpath, rename, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../logging/logger.js';
import { isLive, type Session, type SessionIdRule } from '../session/session.js';
import { removeStaleTemps, writeAtomically } from './atomic-file.js';
import { lockSessionFile } from './file-lock.js';
import { fileKind } from '../config/file-kind.js';
import { readRegularFile } from '../config/regular-file.js';
import { StickyportError } from '../errors.js';
import { MemorySessionStore } from './memory-store.js';
import type { StoreHealth } from './session-store.js';
import { StoredValues } from './stored-values.js';

export interface FileStoreOptions {
  readonly path: string;
  readonly log: Logger;
  /** What a stored id must look like (Session.IdLength, Session.IdAlphabet): others are dropped on load. */
  readonly idRule: SessionIdRule;
  readonly now?: () => number;
  /** Replaces the atomic write (tests count and pace writes with it). */
  readonly write?: (file: string, text: string) => Promise<void>;
}

/** Version 1 of the file: `{ "version": 1, "sessions": [Session, ...] }`. */
const FORMAT_VERSION = 1;

// A session's JSON is under 1 KB, and a port has one: 64 MiB holds one for every port there is.
// A larger file is none of ours, and reading it whole (a /dev/zero never ends) fills memory.
const MAX_FILE_BYTES = 64 * 1024 * 1024;
// And a count of JSON values: parsed, a small value costs 30 to 90 bytes of memory, so 64 MiB of
// `{},` (20 million entries) took 1.8 GB and 14 s at start, and aborted a 1 GiB heap at every
// start (valid JSON, so never moved aside). A session holds under 40 values (its parameters
// among them): 64 for every port there is is no session file's.
const MAX_FILE_VALUES = 64 * 65_535;

/** A replace or delete (or a flush) waiting for the write that makes it durable. */
interface PendingChange {
  /** The change count once it was made: a write that began later saves `upTo >= change`. */
  readonly change: number;
  /** What to undo if the write fails: the port, its session before the change and after it (undefined: none). A flush has none. */
  readonly undo?: { readonly port: number; readonly before: Session | undefined; readonly left: Session | undefined };
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

/**
 * Sessions in memory, saved to one JSON file so that they survive a restart. Saves are atomic
 * (a reader or a crash sees the old file or the new one, never half of one) and shared: at most
 * one write runs, and every change made meanwhile lands in the single write that follows.
 *
 * `replace` and `delete` (the session API's /session/new and /session/reset) resolve only once
 * the write holding their change is on disk: what the API answered survives a kill -9. If that
 * write fails they reject and their change is undone (the port keeps the session it had). Sessions that traffic creates
 * (`getOrCreate`) are not waited for: losing one to a crash only means a new id after the
 * restart, which nobody had been told about, and a request never waits for the disk.
 */
export class FileSessionStore extends MemorySessionStore {
  override readonly kind = 'file';
  /** Bumped by every change; the file holds `savedChanges` of them. */
  private changes = 0;
  private savedChanges = 0;
  private readonly pending: PendingChange[] = [];
  private saving: Promise<void> | undefined;
  private failing = false;
  /**
   * Why nothing is saved: the file could not be read at start (or a corrupt one moved aside),
   * and saving would destroy it. Changes the API would acknowledge are refused meanwhile; once
   * the path holds no file at all, saving starts.
   */
  private unusable: string | undefined;
  private closing: Promise<void> | undefined;
  /** Removes the lock that keeps other processes off the file (file-lock.ts). */
  private unlock: () => Promise<void> = async () => undefined;
  /** Each port's session as the last successful write held it. */
  private onDisk = new Map<number, Session>();

  private constructor(
    private readonly file: string,
    private readonly log: Logger,
    private readonly values: StoredValues,
    private readonly write: (file: string, text: string) => Promise<void>,
    private readonly clock: () => number,
  ) {
    super(clock);
  }

  /** Creates the folder if needed and loads the file, so that the store is ready to use. */
  static async open(options: FileStoreOptions): Promise<FileSessionStore> {
    // A symlink is followed: the atomic rename would otherwise replace the link itself, and the
    // file it points to (a mounted volume, say) would never get a session.
    const file = await followLinks(path.resolve(options.path));
    const values = new StoredValues(options.idRule, options.log);
    const store = new FileSessionStore(file, options.log, values, options.write ?? writeAtomically, options.now ?? Date.now);
    try {
      await mkdir(path.dirname(file), { recursive: true });
    } catch (error) {
      // Not fatal: requests are still served; reading or saving the file then fails and says so.
      options.log.error({ ...reason(error), path: file }, 'cannot create the session folder');
    }
    // Another live process saving to this file refuses the start (StickyportError), and so does
    // a lock path that is no file; a folder that cannot hold the lock is left to the reads and
    // saves below, which say so.
    store.unlock = await lockSessionFile(file).catch((error: unknown) => {
      if (error instanceof StickyportError) throw error;
      options.log.error({ ...reason(error), path: file }, 'cannot lock the session file');
      return async () => undefined;
    });
    await store.removeStaleTemps();
    await store.load();
    return store;
  }

  override async replace(session: Session): Promise<Session> {
    await this.usable();
    const before = this.sessions.get(session.port);
    await super.replace(session);
    await this.durable({ port: session.port, before, left: session });
    return session;
  }

  override async delete(port: number): Promise<boolean> {
    await this.usable();
    const before = this.sessions.get(port);
    const existed = await super.delete(port);
    // Even when nothing was deleted here: an earlier change to the port may still be on its way.
    await this.durable({ port, before, left: undefined });
    return existed;
  }

  override close(): Promise<void> {
    this.closing ??= (async () => {
      await super.close();
      try {
        while (this.saving) await this.saving;
        // Written even when every change was saved: the lock makes this process the file's
        // owner, and what it holds in memory is the truth, while the file may have been
        // spoiled, truncated or deleted since the last save. Not while the file is unusable:
        // that one is never written over (see `unusable`).
        const unsaved = this.savedChanges < this.changes;
        if (this.unusable === undefined) {
          this.changes++;
          await (this.saving ??= this.save());
        }
        // That last write failing (a full or read-only disk) loses nothing while the file still
        // holds every session as memory does: the stop is not failed for it. Nor for sessions
        // traffic made since the last save that reached the disk: /session/ names a session only
        // once it is on disk, so nobody was told of them (those ports get new ids after a restart).
        // What fails the stop is a session the file held and no longer holds as memory does.
        if (this.savedChanges < this.changes) {
          const loaded = await this.readBack();
          this.sweep();
          if (unsaved || !this.holdsMemory(loaded)) {
            if (!this.holdsSaved(loaded)) throw new StickyportError('STORE_UNAVAILABLE', `could not save the sessions to ${this.file}`);
            this.log.warn({ path: this.file }, 'could not save the sessions made by traffic since the last save: nobody was told of them; those ports get new ids after a restart');
          }
        }
      } finally {
        await this.unlock().catch(() => undefined);
      }
    })();
    return this.closing;
  }

  /** Whether `loaded` (the file read back) is the very sessions memory holds. */
  private holdsMemory(loaded: Map<number, string> | undefined): boolean {
    return loaded !== undefined && loaded.size === this.sessions.size && [...this.sessions].every(([port, session]) => loaded.get(port) === session.id);
  }

  /**
   * Whether `loaded` (the file read back) holds every session id that memory holds and that was
   * written (the sessions /session/ may have named). True when none was ever written.
   */
  private holdsSaved(loaded: Map<number, string> | undefined): boolean {
    // By id: a session amended since its save (a keep-alive, an exit IP seen) is the one named.
    const saved = [...this.sessions].filter(([port, session]) => this.onDisk.get(port)?.id === session.id);
    return saved.length === 0 || (loaded !== undefined && saved.every(([port, session]) => loaded.get(port) === session.id));
  }

  /** The live sessions a restart would load from the file now, port to id; undefined when it cannot be read. */
  private async readBack(): Promise<Map<number, string> | undefined> {
    const entries = parseSessionFile(await readSessionFile(this.file).catch(() => ''));
    if (typeof entries === 'string') return undefined;
    const now = this.clock();
    return new Map(
      this.values
        .fromEntries(entries, portOf, true)
        .filter((session) => isLive(session, now))
        .map((session) => [session.port, session.id]),
    );
  }

  /**
   * Resolves once the port's session as it is now is on disk (at once when the last write held
   * it): a session traffic created is saved before the session API names it. Rejects when the
   * write fails or nothing is saved.
   */
  async flush(port: number): Promise<void> {
    await this.usable();
    if (this.sessions.get(port) === this.onDisk.get(port)) return;
    return this.durable();
  }

  health(): StoreHealth {
    // Serving from memory while the file cannot be written: the documented fallback of a file store.
    return { state: this.unusable !== undefined || this.failing ? 'fallback' : 'up', outages: 0 };
  }

  protected override changed(): void {
    if (this.unusable !== undefined) return;
    this.changes++;
    this.saving ??= this.save();
  }

  /**
   * Throws while the file is unusable (see `unusable`), unless the path now holds no file: then
   * saving starts, with what memory holds.
   */
  private async usable(): Promise<void> {
    if (this.unusable === undefined) return;
    // A stat, not a read: the path may hold a FIFO (a read waits for a writer) or a huge file.
    const code = await stat(this.file).then(fileKind, (error: NodeJS.ErrnoException) => error.code ?? 'unreadable');
    if (code !== 'ENOENT') throw new Error(`${this.unusable}: nothing is saved to it, so no change is acknowledged (${code} now)`);
    this.log.info({ path: this.file }, 'the session file path is free now: saving sessions');
    this.unusable = undefined;
    this.changed();
  }

  /** Resolves once a write that began after every change made so far is on disk. */
  private durable(undo?: PendingChange['undo']): Promise<void> {
    if (this.savedChanges >= this.changes) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.pending.push({ change: this.changes, undo, resolve, reject });
      // A failed save ends its loop; this change must not wait for the next one to come along.
      this.saving ??= this.save();
    });
  }

  private async save(): Promise<void> {
    try {
      // Let the changes made in the same tick join this write.
      await Promise.resolve();
      while (this.savedChanges < this.changes) {
        const upTo = this.changes;
        this.sweep();
        const written = new Map(this.sessions);
        try {
          await this.write(this.file, JSON.stringify({ version: FORMAT_VERSION, sessions: [...written.values()] }));
        } catch (error) {
          // Logged once per failing streak; the next change (or close) tries again.
          if (!this.failing) this.log.error({ ...reason(error), path: this.file }, 'cannot save the session file');
          this.failing = true;
          this.settle(upTo, error as Error);
          // Traffic's changes can wait for the next change; a replace or delete made since cannot.
          if (this.pending.length === 0) return;
          continue;
        }
        this.savedChanges = upTo;
        this.onDisk = written;
        if (this.failing) this.log.info({ path: this.file }, 'session file saved again');
        this.failing = false;
        this.settle(upTo);
      }
    } finally {
      // No await between the last count check and this line: a change after it starts a new save.
      this.saving = undefined;
    }
  }

  /** Answers the replaces and deletes that the write of changes up to `upTo` held. */
  private settle(upTo: number, error?: Error): void {
    const due = this.pending.filter((change) => change.change <= upTo);
    if (due.length === 0) return;
    this.pending.splice(0, this.pending.length, ...this.pending.filter((change) => change.change > upTo));
    if (!error) {
      for (const change of due) change.resolve();
      return;
    }
    // Newest first, each only if the port still holds what it left: two failed renewals of one
    // port unwind to the session before both, and a session traffic created since is kept.
    for (const change of due.reverse()) {
      const { undo } = change;
      let undone = false;
      if (undo && this.sessions.get(undo.port) === undo.left) {
        if (undo.before) this.sessions.set(undo.port, undo.before);
        else this.sessions.delete(undo.port);
        undone = true;
      }
      const reason = (error as NodeJS.ErrnoException).code ?? error.message;
      // Only a change that was taken back says so: a flush (a session traffic made, still in
      // use) and a change already overtaken were not undone, only left unsaved.
      const outcome = undone ? 'the change was undone' : 'what the port uses now is not saved yet';
      change.reject(new Error(`the session file could not be saved (${reason}): ${outcome}`, { cause: error }));
    }
  }

  /** A crash between creating a temp file and renaming it leaves the temp file behind. */
  private async removeStaleTemps(): Promise<void> {
    try {
      const removed = await removeStaleTemps(this.file);
      if (removed.length > 0) this.log.info({ path: this.file, removed }, 'removed temp files of saves a crash interrupted');
    } catch (error) {
      this.log.warn({ ...reason(error), path: this.file }, 'cannot remove the temp files of interrupted saves');
    }
  }

  private async load(): Promise<void> {
    let text: string;
    try {
      text = await readSessionFile(this.file);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      this.unusable = `the session file ${this.file} could not be read at start (${code ?? (error as Error).message})`;
      this.log.error({ ...reason(error), path: this.file }, 'cannot read the session file: starting empty; nothing is saved and /session/new, /session/reset are refused until the path holds no file or a readable one at a restart');
      return;
    }
    const entries = parseSessionFile(text);
    if (typeof entries === 'string') {
      await this.moveAside(entries);
      return;
    }
    const sessions = this.values.fromEntries(entries, portOf);
    const now = this.clock();
    const live = sessions.filter((session) => isLive(session, now));
    const twice = new Set<number>();
    for (const session of live) {
      if (this.sessions.has(session.port)) twice.add(session.port);
      this.sessions.set(session.port, session);
    }
    // stickyport never writes a port twice: a file edited by hand, where the last entry wins.
    if (twice.size > 0) this.log.warn({ path: this.file, ports: [...twice].slice(0, 10), count: twice.size }, 'the session file holds more than one session for a port: the last one is used');
    this.onDisk = new Map(this.sessions);
    this.log.info(
      { path: this.file, loaded: live.length, expired: sessions.length - live.length, unusable: entries.length - sessions.length },
      'sessions loaded',
    );
  }

  /** Keeps a corrupt file for a human to look at; a later save must never overwrite it. */
  private async moveAside(problem: string): Promise<void> {
    const aside = `${this.file}.corrupt-${new Date(this.clock()).toISOString().replace(/[:.]/g, '-')}`;
    try {
      await rename(this.file, aside);
      this.log.warn({ path: this.file, movedTo: aside, problem }, 'the session file is corrupt: moved it aside, starting empty');
    } catch (error) {
      this.unusable = `the session file ${this.file} is corrupt and could not be moved aside`;
      this.log.error({ ...reason(error), path: this.file }, 'the session file is corrupt and cannot be moved aside: starting empty; nothing is saved and /session/new, /session/reset are refused until the path holds no file');
    }
  }
}

// As many links as the kernel follows (Linux's MAXSYMLINKS) before it calls it a loop.
const MAX_LINKS = 40;

/**
 * `file` with its symlinks followed to the end of the chain, even a dangling end (the first
 * save creates it). A loop is not followed: `file` itself, which then cannot be read (ELOOP),
 * and messages name the path as configured.
 */
async function followLinks(file: string): Promise<string> {
  try {
    return await realpath(file);
  } catch {
    let at = file;
    for (let hops = 0; hops < MAX_LINKS; hops++) {
      const link = await lstat(at).catch(() => undefined);
      if (!link?.isSymbolicLink()) return at;
      const target = await readlink(at).catch(() => undefined);
      if (target === undefined) return file;
      at = path.resolve(path.dirname(at), target);
    }
    return file;
  }
}

/** The session file's text: a regular file of at most MAX_FILE_BYTES (config/regular-file.ts). */
function readSessionFile(file: string): Promise<string> {
  return readRegularFile(file, MAX_FILE_BYTES);
}

/**
 * The entries of a file's text, or why the text is not a session file at all. Each entry is
 * checked on its own: one unusable entry costs its port's session, not every port's. A leading
 * byte order mark (an editor's, after a hand edit) is no part of the JSON, as in settings files.
 */
function parseSessionFile(text: string): unknown[] | string {
  const json = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  if (moreValuesThan(json, MAX_FILE_VALUES)) return `more than ${MAX_FILE_VALUES} JSON values, more than a session for every port holds`;
  let data: unknown;
  try {
    data = JSON.parse(json);
  } catch {
    // Not V8's message: it quotes the text around the fault.
    return 'not JSON';
  }
  if (typeof data !== 'object' || data === null) return 'not a JSON object';
  const { version, sessions } = data as { version?: unknown; sessions?: unknown };
  if (version !== FORMAT_VERSION) return `not format version ${FORMAT_VERSION}`;
  return Array.isArray(sessions) ? sessions : 'its "sessions" is not a list';
}

/**
 * Whether JSON text holds more than `limit` values, counted from above before parsing: each value
 * after a container's first follows a comma, and each first one a bracket (commas and brackets
 * inside strings count too, which only errs towards refusing).
 */
function moreValuesThan(json: string, limit: number): boolean {
  let marks = 0;
  for (let i = 0; i < json.length; i++) {
    const c = json.charCodeAt(i);
    if ((c === 0x2c || c === 0x5b || c === 0x7b) && ++marks > limit) return true;
  }
  return false;
}

/** The port an entry claims, for the log line when the entry cannot be used. */
function portOf(entry: unknown): number | undefined {
  const port = typeof entry === 'object' && entry !== null ? (entry as { port?: unknown }).port : undefined;
  return typeof port === 'number' && Number.isInteger(port) ? port : undefined;
}

/**
 * A file system failure as the log shows it: its message and code. These are the operator's
 * path and permissions, not bugs, so no stack trace.
 */
function reason(error: unknown): { err: string; code?: string } {
  const { message, code } = error as NodeJS.ErrnoException;
  return code === undefined ? { err: String(message ?? error) } : { err: String(message ?? error), code };
}
