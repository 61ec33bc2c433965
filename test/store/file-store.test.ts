import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logging/logger.js';
import type { Session } from '../../src/session/session.js';
import { FileSessionStore } from '../../src/store/file-store.js';
import { logSink } from '../helpers/stickyport.js';
import { makeSession, sessionStoreContract, waitUntil } from './session-store.contract.js';

function tempFile(): string {
  // A folder that does not exist yet: the store must create it.
  return path.join(mkdtempSync(path.join(tmpdir(), 'stickyport-file-store-')), 'data', 'sessions.json');
}

function openStore(file: string, extra: { now?: () => number; write?: (file: string, text: string) => Promise<void> } = {}) {
  const sink = logSink();
  const opening = FileSessionStore.open({ path: file, log: createLogger('debug', sink.stream), ...extra });
  const logged = (msg: string) => sink.lines.map((line) => JSON.parse(line)).filter((entry) => entry.msg === msg);
  return { opening, logged };
}

const byPort = (sessions: Session[]) => [...sessions].sort((a, b) => a.port - b.port);

sessionStoreContract('FileSessionStore', { open: () => openStore(tempFile()).opening });

describe('FileSessionStore on disk', () => {
  it('after a restart every port keeps its session id and expiry', async () => {
    const file = tempFile();
    const store = await openStore(file).opening;
    const sessions = [makeSession(20_001), makeSession(20_002, null), makeSession(20_003, 3_600_000)];
    for (const session of sessions) await store.getOrCreate(session.port, () => session);
    await store.close();

    const reopened = await openStore(file).opening;
    expect(byPort(await reopened.list())).toEqual(sessions);
    expect(await reopened.getOrCreate(20_001, () => makeSession(20_001))).toEqual(sessions[0]);
    await reopened.close();
  });

  it('drops the sessions that expired while it was stopped', async () => {
    const file = tempFile();
    let now = 5_000_000;
    const store = await openStore(file, { now: () => now }).opening;
    const brief = Object.freeze({ id: 'brief', port: 1, createdAt: now, expiresAt: now + 1_000 });
    const forever = Object.freeze({ id: 'forever', port: 2, createdAt: now, expiresAt: null });
    await store.replace(brief);
    await store.replace(forever);
    await store.close();

    now += 1_000;
    const { opening, logged } = openStore(file, { now: () => now });
    const reopened = await opening;
    expect(await reopened.list()).toEqual([forever]);
    expect(logged('sessions loaded')[0]).toMatchObject({ loaded: 1, expired: 1 });
    await reopened.close();
  });

  it('saves each change soon after it is made, not only on close', async () => {
    const file = tempFile();
    const store = await openStore(file).opening;
    const session = await store.getOrCreate(20_004, () => makeSession(20_004));
    await waitUntil(() => existsSync(file) && readFileSync(file, 'utf8').includes(session.id), 3_000, 'saved file');
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ version: 1, sessions: [session] });
    await store.close();
  });

  it('coalesces a burst of changes: one write in flight, the rest folded into the next one', async () => {
    const writes: string[] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    let release!: () => void;
    let started!: () => void;
    const firstWriteHeld = new Promise<void>((resolve) => (release = resolve));
    const firstWriteStarted = new Promise<void>((resolve) => (started = resolve));
    const write = async (_file: string, text: string): Promise<void> => {
      maxInFlight = Math.max(maxInFlight, ++inFlight);
      writes.push(text);
      if (writes.length === 1) {
        started();
        await firstWriteHeld;
      }
      inFlight--;
    };
    const store = await openStore(tempFile(), { write }).opening;
    await Promise.all(Array.from({ length: 100 }, (_, i) => store.replace(makeSession(30_000 + i))));
    await firstWriteStarted;
    // The first write holds the first burst; these 100 changes must wait and share one write.
    const last = Array.from({ length: 100 }, (_, i) => makeSession(30_000 + i));
    for (const session of last) await store.replace(session);
    release();
    await store.close();
    expect(maxInFlight).toBe(1);
    expect(writes).toHaveLength(2);
    expect(byPort(JSON.parse(writes[1]!).sessions)).toEqual(last);
  });

  it('writes atomically: a reader never sees a partial file, and no temp file is left', async () => {
    const file = tempFile();
    const store = await openStore(file).opening;
    let reads = 0;
    let writing = true;
    const reader = (async () => {
      while (writing) {
        if (existsSync(file)) {
          expect(() => JSON.parse(readFileSync(file, 'utf8'))).not.toThrow();
          reads++;
        }
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    for (let round = 0; round < 30; round++) {
      await Promise.all(Array.from({ length: 50 }, (_, i) => store.replace(makeSession(40_000 + i))));
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    await store.close();
    writing = false;
    await reader;
    expect(reads).toBeGreaterThan(0);
    expect(readdirSync(path.dirname(file))).toEqual(['sessions.json']);
    expect(JSON.parse(readFileSync(file, 'utf8')).sessions).toHaveLength(50);
  });

  it.each([
    ['garbage', 'not json {{{'],
    ['a truncated file', JSON.stringify({ version: 1, sessions: [makeSession(1), makeSession(2)] }).slice(0, 60)],
    ['an empty file', ''],
    ['an entry that is not a session', JSON.stringify({ version: 1, sessions: [{ id: 5, port: 'x' }] })],
    ['an unknown format version', JSON.stringify({ version: 99, sessions: [] })],
  ])('moves %s aside, logs a warning, and starts empty', async (_what, bytes) => {
    const file = tempFile();
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, bytes);
    const { opening, logged } = openStore(file);
    const store = await opening;
    expect(await store.list()).toEqual([]);
    const aside = readdirSync(path.dirname(file)).filter((name) => name.startsWith('sessions.json.corrupt-'));
    expect(aside).toHaveLength(1);
    expect(readFileSync(path.join(path.dirname(file), aside[0]!), 'utf8')).toBe(bytes);
    expect(logged('the session file is corrupt: moved it aside, starting empty')).toEqual([
      expect.objectContaining({ level: 40, movedTo: path.join(path.dirname(file), aside[0]!) }),
    ]);
    // It works from there, and the corrupt copy stays as it was.
    const session = await store.getOrCreate(7, () => makeSession(7));
    await store.close();
    expect(JSON.parse(readFileSync(file, 'utf8')).sessions).toEqual([session]);
    expect(readFileSync(path.join(path.dirname(file), aside[0]!), 'utf8')).toBe(bytes);
  });

  it('a failing disk is logged once, never fails a request, and close reports what was not saved', async () => {
    let broken = true;
    const write = async (): Promise<void> => {
      if (broken) throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
    };
    const { opening, logged } = openStore(tempFile(), { write });
    const store = await opening;
    for (let i = 0; i < 20; i++) await store.replace(makeSession(50_000 + i));
    await waitUntil(() => logged('cannot save the session file').length > 0, 1_000, 'error log');
    for (let i = 0; i < 20; i++) await store.replace(makeSession(50_000 + i));
    expect(await store.list()).toHaveLength(20);
    expect(logged('cannot save the session file')).toHaveLength(1);
    broken = false;
    await store.replace(makeSession(50_100));
    await waitUntil(() => logged('session file saved again').length === 1, 1_000, 'recovery log');
    broken = true;
    await store.replace(makeSession(50_101));
    await expect(store.close()).rejects.toThrow(/could not save the sessions/);
  });

  it('a path it cannot read is logged, and the store runs without touching it', async () => {
    const file = tempFile();
    mkdirSync(file, { recursive: true }); // a folder where the file should be
    const { opening, logged } = openStore(file);
    const store = await opening;
    await store.getOrCreate(8, () => makeSession(8));
    await store.close();
    expect(logged('cannot read the session file: starting empty, sessions will not be saved')).toHaveLength(1);
    expect(readdirSync(file)).toEqual([]);
  });

  it('a folder it cannot create is logged, and requests are still served', async () => {
    const blocker = tempFile();
    mkdirSync(path.dirname(blocker), { recursive: true });
    writeFileSync(blocker, 'a file where a folder should be');
    const { opening, logged } = openStore(path.join(blocker, 'sessions.json'));
    const store = await opening;
    expect(await store.getOrCreate(9, () => makeSession(9))).toMatchObject({ port: 9 });
    await store.close();
    expect(logged('cannot create the session folder')).toHaveLength(1);
    expect(readFileSync(blocker, 'utf8')).toBe('a file where a folder should be');
  });
});
