import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logging/logger.js';
import type { Session } from '../../src/session/session.js';
import { FileSessionStore } from '../../src/store/file-store.js';
import type { SessionStore } from '../../src/store/session-store.js';
import { logSink } from '../helpers/stickyport.js';
import { makeSession, sessionStoreContract, TEST_ID_RULE, testId, waitUntil } from './session-store.contract.js';

function tempFile(): string {
  // A folder that does not exist yet: the store must create it.
  return path.join(mkdtempSync(path.join(tmpdir(), 'stickyport-file-store-')), 'data', 'sessions.json');
}

function openStore(file: string, extra: { now?: () => number; write?: (file: string, text: string) => Promise<void> } = {}) {
  const sink = logSink();
  const opening = FileSessionStore.open({ path: file, log: createLogger('debug', sink.stream), idRule: TEST_ID_RULE, ...extra });
  const entries = () => sink.lines.map((line) => JSON.parse(line));
  const logged = (msg: string) => entries().filter((entry) => entry.msg === msg);
  return { opening, logged, entries };
}

const byPort = (sessions: Session[]) => [...sessions].sort((a, b) => a.port - b.port);

/** The session the file on disk holds for `port` right now, as any other reader would find it. */
function onDisk(file: string, port: number): unknown {
  if (!existsSync(file)) return undefined;
  return (JSON.parse(readFileSync(file, 'utf8')).sessions as Session[]).find((session) => session.port === port);
}

const files = new WeakMap<SessionStore, string>();
sessionStoreContract('FileSessionStore', {
  open: async () => {
    const file = tempFile();
    const store = await openStore(file).opening;
    files.set(store, file);
    return store;
  },
  inBackend: async (store, port) => onDisk(files.get(store)!, port),
  openHolding: async (values) => {
    const file = tempFile();
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, JSON.stringify({ version: 1, sessions: [...values.values()] }));
    const { opening, entries } = openStore(file);
    return { store: await opening, warnings: entries };
  },
});

/** A write the test holds until it lets it go, recording what each write carried. */
function heldWrites() {
  const writes: string[] = [];
  const releases: Array<() => void> = [];
  const started: Array<() => void> = [];
  let inFlight = 0;
  let maxInFlight = 0;
  let holding = true;
  const write = async (_file: string, text: string): Promise<void> => {
    maxInFlight = Math.max(maxInFlight, ++inFlight);
    writes.push(text);
    started.shift()?.();
    if (holding) await new Promise<void>((resolve) => releases.push(resolve));
    inFlight--;
  };
  return {
    write,
    writes,
    maxInFlight: () => maxInFlight,
    /** Resolves when the next write starts. */
    nextStart: () => new Promise<void>((resolve) => started.push(resolve)),
    /** Lets the oldest held write finish. */
    release: () => releases.shift()!(),
    /** Lets every write finish, now and from now on (the write a close makes, say). */
    free: () => {
      holding = false;
      for (const release of releases.splice(0)) release();
    },
  };
}

/** Whether `promise` has settled by the time the queued callbacks have run. */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  promise.then(() => (done = true), () => (done = true));
  await new Promise((resolve) => setImmediate(resolve));
  return done;
}

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
    const brief = Object.freeze({ id: testId(), port: 1, createdAt: now, expiresAt: now + 1_000 });
    const forever = Object.freeze({ id: testId(), port: 2, createdAt: now, expiresAt: null });
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

  it('a replace resolves once the write holding it is done, not before; a burst shares two writes', async () => {
    const held = heldWrites();
    const file = tempFile();
    const store = await openStore(file, { write: held.write }).opening;
    const firstStarted = held.nextStart();
    const first = Array.from({ length: 100 }, (_, i) => store.replace(makeSession(30_000 + i)));
    await firstStarted;
    // The first write holds the first burst; these 100 changes came after it began: they must
    // wait for the next write, not be answered by the one in flight.
    const last = Array.from({ length: 100 }, (_, i) => makeSession(30_000 + i));
    const second = last.map((session) => store.replace(session));
    expect(await settled(Promise.race(first))).toBe(false);
    const secondStarted = held.nextStart();
    held.release();
    await Promise.all(first);
    await secondStarted;
    expect(await settled(Promise.race(second))).toBe(false);
    held.release();
    await Promise.all(second);
    expect(held.maxInFlight()).toBe(1);
    expect(held.writes).toHaveLength(2);
    expect(byPort(JSON.parse(held.writes[1]!).sessions)).toEqual(last);
    held.free();
    await store.close();
  });

  it('a delete resolves once a write that began after it is done, even when there was nothing to delete', async () => {
    const held = heldWrites();
    const store = await openStore(tempFile(), { write: held.write }).opening;
    const started = held.nextStart();
    const renewed = store.replace(makeSession(30_500));
    await started;
    // Port 30500's session is on its way to disk; deleting it must wait for a later write.
    const deleted = store.delete(30_500);
    const again = store.delete(30_500);
    held.release();
    await renewed;
    expect(await settled(deleted)).toBe(false);
    expect(await settled(again)).toBe(false);
    held.release();
    expect(await deleted).toBe(true);
    expect(await again).toBe(false);
    expect(JSON.parse(held.writes[1]!).sessions).toEqual([]);
    held.free();
    await store.close();
  });

  it('sessions created by traffic are saved soon, without waiting for the disk', async () => {
    const held = heldWrites();
    const file = tempFile();
    const store = await openStore(file, { write: held.write }).opening;
    const started = held.nextStart();
    const session = await store.getOrCreate(30_600, () => makeSession(30_600));
    await started;
    expect(JSON.parse(held.writes[0]!).sessions).toEqual([session]);
    held.free();
    await store.close();
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
    ['a list that is not a list', JSON.stringify({ version: 1, sessions: { 1: makeSession(1) } })],
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

  it('a failing disk is logged once and never fails traffic; a replace or delete it could not save rejects and is undone', async () => {
    let broken = true;
    const write = async (): Promise<void> => {
      if (broken) throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
    };
    const { opening, logged } = openStore(tempFile(), { write });
    const store = await opening;
    // Traffic: created in memory, used, saved later.
    const created = await Promise.all(Array.from({ length: 20 }, (_, i) => store.getOrCreate(50_000 + i, () => makeSession(50_000 + i))));
    await waitUntil(() => logged('cannot save the session file').length > 0, 1_000, 'error log');
    expect(await store.list()).toHaveLength(20);
    // The API: told it failed, and the port keeps the session it had.
    await expect(store.replace(makeSession(50_000))).rejects.toThrow(/could not be saved \(ENOSPC\): the change was undone/);
    await expect(store.delete(50_001)).rejects.toThrow(/ENOSPC/);
    await expect(store.replace(makeSession(50_100))).rejects.toThrow(/ENOSPC/);
    expect(await store.get(50_000)).toEqual(created[0]);
    expect(await store.get(50_001)).toEqual(created[1]);
    expect(await store.get(50_100)).toBeUndefined();
    expect(await store.getOrCreate(50_002, () => makeSession(50_002))).toEqual(created[2]);
    // A flush (the API naming a session traffic made) undoes nothing: it says so, and the port keeps it.
    await expect(store.flush(50_003)).rejects.toThrow(/could not be saved \(ENOSPC\): what the port uses now is not saved yet$/);
    expect(await store.get(50_003)).toEqual(created[3]);
    expect(logged('cannot save the session file')).toHaveLength(1);

    broken = false;
    const saved = await store.replace(makeSession(50_200));
    expect(logged('session file saved again')).toHaveLength(1);
    // Two failed renewals of one port unwind to the session before both.
    broken = true;
    await Promise.all([
      expect(store.replace(makeSession(50_200))).rejects.toThrow(/ENOSPC/),
      expect(store.replace(makeSession(50_200))).rejects.toThrow(/ENOSPC/),
    ]);
    expect(await store.get(50_200)).toEqual(saved);
    await store.getOrCreate(50_300, () => makeSession(50_300));
    await expect(store.close()).rejects.toThrow(/could not save the sessions/);
  });

  // A path that can never be written (an adversarial pass: /sys/kernel/sessions.json): traffic
  // is served, the API refuses every change, and the stop failed with exit 1 for the sessions
  // traffic made, which /session/ had never named. Nothing that anyone was told of is lost.
  it('a disk that never took a write: the stop succeeds with a warning, since no session was ever named', async () => {
    const write = async (): Promise<void> => {
      throw Object.assign(new Error('read-only file system'), { code: 'EROFS' });
    };
    const { opening, logged } = openStore(tempFile(), { write });
    const store = await opening;
    await Promise.all(Array.from({ length: 5 }, (_, i) => store.getOrCreate(51_000 + i, () => makeSession(51_000 + i))));
    await expect(store.replace(makeSession(51_000))).rejects.toThrow(/EROFS/);
    await expect(store.close()).resolves.toBeUndefined();
    expect(logged('could not save the sessions made by traffic since the last save: nobody was told of them; those ports get new ids after a restart')).toHaveLength(1);
  });

  // The same rule must not let a named session go: one saved, then amended in place (a keep-alive
  // or an exit IP seen: same id, another object), then the file deleted and the disk refusing
  // writes. The review found that stop exiting 0 ("nobody was told of them") while the named
  // session was gone.
  it('a saved session amended since, the file then gone and the disk refusing: the stop fails', async () => {
    let broken = false;
    const file = tempFile();
    const write = async (target: string, text: string): Promise<void> => {
      if (broken) throw Object.assign(new Error('read-only file system'), { code: 'EROFS' });
      mkdirSync(path.dirname(target), { recursive: true });
      writeFileSync(target, text);
    };
    const { opening } = openStore(file, { write });
    const store = await opening;
    const named = await store.replace(makeSession(52_000));
    expect(JSON.parse(readFileSync(file, 'utf8')).sessions).toEqual([named]);
    broken = true;
    rmSync(file);
    expect(await store.amend({ ...named, exit: { ip: '203.0.113.9', seenAt: Date.now() } })).toMatchObject({ id: named.id });
    await expect(store.close()).rejects.toThrow(/could not save the sessions/);
  });

  // Valid JSON well under 64 MiB, but 4.2 million `{}` entries: parsed whole, small values cost
  // 30-90 bytes each (20 million took 1.8 GB at start, and aborted a 1 GiB heap at every start,
  // never moved aside). More values than a session for every port holds is no session file.
  it('a file of more JSON values than every port\'s session holds is moved aside unparsed, saying why', async () => {
    const file = tempFile();
    mkdirSync(path.dirname(file), { recursive: true });
    const bytes = `{"version":1,"sessions":[${'{},'.repeat(64 * 65_535)}{}]}`;
    writeFileSync(file, bytes);
    const { opening, logged } = openStore(file);
    const store = await opening;
    expect(await store.list()).toEqual([]);
    expect(logged('the session file is corrupt: moved it aside, starting empty')).toEqual([
      expect.objectContaining({ problem: 'more than 4194240 JSON values, more than a session for every port holds' }),
    ]);
    expect(readdirSync(path.dirname(file)).filter((name) => name.startsWith('sessions.json.corrupt-'))).toHaveLength(1);
    await store.close();
  });

  // An editor's byte order mark after a hand edit: the settings loader takes it, the session file
  // was moved aside as corrupt (every session lost).
  it('a file that starts with a byte order mark loads', async () => {
    const file = tempFile();
    mkdirSync(path.dirname(file), { recursive: true });
    const kept = makeSession(8_001);
    writeFileSync(file, `\ufeff${JSON.stringify({ version: 1, sessions: [kept] })}`);
    const { opening, logged } = openStore(file);
    const store = await opening;
    expect(await store.list()).toEqual([kept]);
    expect(logged('the session file is corrupt: moved it aside, starting empty')).toEqual([]);
    await store.close();
  });

  it('two sessions for one port (a hand edit): the last is used, and a warning names the port', async () => {
    const file = tempFile();
    mkdirSync(path.dirname(file), { recursive: true });
    const first = makeSession(8_001);
    const second = makeSession(8_001);
    writeFileSync(file, JSON.stringify({ version: 1, sessions: [first, makeSession(8_002), second] }));
    const { opening, logged } = openStore(file);
    const store = await opening;
    expect((await store.list()).find((session) => session.port === 8_001)).toEqual(second);
    expect(logged('the session file holds more than one session for a port: the last one is used')).toEqual([
      expect.objectContaining({ level: 40, ports: [8_001], count: 1 }),
    ]);
    await store.close();
  });

  it('drops the entries it cannot use and keeps the others: the file is not corrupt for it', async () => {
    const file = tempFile();
    mkdirSync(path.dirname(file), { recursive: true });
    const kept = makeSession(8_001);
    writeFileSync(file, JSON.stringify({ version: 1, sessions: [kept, { id: 5, port: 'x' }, { ...makeSession(8_002), id: 'has:colon:id' }, 'text'] }));
    const { opening, logged } = openStore(file);
    const store = await opening;
    expect(await store.list()).toEqual([kept]);
    // And the lock that keeps other processes off the file while this one has it open.
    expect(readdirSync(path.dirname(file)).sort()).toEqual(['sessions.json', 'sessions.json.lock']);
    expect(logged('sessions loaded')[0]).toMatchObject({ loaded: 1, unusable: 3 });
    expect(logged('ignored an unusable stored session: the port gets a new one').map((entry) => entry.port)).toEqual([undefined, 8_002, undefined]);
    await store.close();
  });

  // One warning per unusable entry: a 5 MB file of `{}` entries logged 1.7 million lines (372 MB)
  // and took 11 s to start. A few are shown, the rest counted in one line.
  it('a file of many unusable entries logs a few of them and one line with the count of the rest', async () => {
    const file = tempFile();
    mkdirSync(path.dirname(file), { recursive: true });
    const kept = makeSession(8_001);
    const junk = [...Array.from({ length: 50_000 }, () => ({})), ...Array.from({ length: 50_000 }, (_, i) => ({ port: 1 + (i % 60_000), id: 5 }))];
    writeFileSync(file, JSON.stringify({ version: 1, sessions: [...junk, kept] }));
    const { opening, logged, entries } = openStore(file);
    const store = await opening;
    expect(await store.list()).toEqual([kept]);
    expect(logged('ignored an unusable stored session: the port gets a new one')).toHaveLength(10);
    expect(logged('ignored more unusable stored sessions: only the first 10 were logged one by one')).toEqual([expect.objectContaining({ count: 99_990 })]);
    expect(logged('sessions loaded')[0]).toMatchObject({ loaded: 1, unusable: 100_000 });
    expect(entries().length).toBeLessThan(20);
    await store.close();
  });

  // A hand-edited expiry far past what the port's lifetime allows (createdAt -1e15, expiresAt
  // 8.64e15) was loaded and served as it said: that id, for good. A stored expiry is capped at
  // createdAt + the port's configured lifetime (a lifetime of 0, never, caps nothing).
  it('a stored expiry is capped at createdAt plus the port\'s lifetime', async () => {
    const file = tempFile();
    mkdirSync(path.dirname(file), { recursive: true });
    const now = Date.now();
    const lifetimeMs = 600_000;
    const entry = (port: number, id: string, createdAt: number, expiresAt: number | null) => ({ id, port, createdAt, expiresAt });
    writeFileSync(file, JSON.stringify({ version: 1, sessions: [
      entry(1, testId(), -1e15, 8.64e15),
      entry(2, testId(), now, now + 10 * 365 * 86_400_000),
      entry(3, testId(), now, null),
      entry(4, testId(), now, now + 60_000),
      entry(5, testId(), now, null),
      // A createdAt far in the future would carry the cap out with it: no creation time at all
      // (the port gets a new session); within a day (another machine's clock) it counts.
      entry(6, testId(), 8e15, 8.64e15),
      entry(7, testId(), now + 3_600_000, 8.64e15),
    ] }));
    const idRule = { ...TEST_ID_RULE, portRule: (port: number) => ({ parameters: new Set<string>(), lifetimeMs: port === 5 ? 0 : lifetimeMs }) };
    const store = await FileSessionStore.open({ path: file, log: createLogger('silent'), idRule });
    const expiries = new Map((await store.list()).map((session) => [session.port, session.expiresAt]));
    expect([...expiries].sort(([a], [b]) => a - b)).toEqual([[2, now + lifetimeMs], [3, now + lifetimeMs], [4, now + 60_000], [5, null], [7, now + 3_600_000 + lifetimeMs]]);
    await store.close();
  });

  // A session stored with parameters its upstream's login can no longer carry (a SOCKS5 template
  // made longer since) was served, and every request through it failed until it rotated.
  it('a stored session whose parameters the login can no longer carry is unusable: the port gets a new one', async () => {
    const file = tempFile();
    mkdirSync(path.dirname(file), { recursive: true });
    const now = Date.now();
    const entry = (port: number, city: string) => ({ id: testId(), port, createdAt: now, expiresAt: null, params: { city } });
    writeFileSync(file, JSON.stringify({ version: 1, sessions: [entry(1, 'rome'), entry(2, 'x'.repeat(40))] }));
    const declared = Object.assign(new Set(['city']), { loginProblem: (params: Record<string, string>) => ((params.city ?? '').length > 20 ? 'the SOCKS5 user name would be 270 bytes long' : undefined) });
    const idRule = { ...TEST_ID_RULE, portRule: () => ({ parameters: declared }) };
    const store = await FileSessionStore.open({ path: file, log: createLogger('silent'), idRule });
    expect((await store.list()).map((session) => [session.port, session.params?.city])).toEqual([[1, 'rome']]);
    await store.close();
  });

  it('on open, removes the temp files an interrupted save left, and nothing else', async () => {
    const file = tempFile();
    const folder = path.dirname(file);
    mkdirSync(folder, { recursive: true });
    const stale = ['sessions.json.123.0123abcd.tmp', 'sessions.json.99999.ffffffff.tmp'];
    const others = ['sessions.json.123.0123ABCD.tmp', 'sessions.json.x.0123abcd.tmp', 'other.json.123.0123abcd.tmp', 'sessions.json.123.0123abcd.tmp.bak', 'sessions.json.corrupt-2026'];
    for (const name of [...stale, ...others]) writeFileSync(path.join(folder, name), 'partial');
    const { opening, logged } = openStore(file);
    const store = await opening;
    expect(readdirSync(folder).sort()).toEqual([...others, 'sessions.json.lock'].sort());
    expect(logged('removed temp files of saves a crash interrupted')).toEqual([expect.objectContaining({ removed: expect.arrayContaining(stale) })]);
    await store.close();
  });

  it('a path it cannot read is logged, and the store runs without touching it, refusing what it cannot save', async () => {
    const file = tempFile();
    mkdirSync(file, { recursive: true }); // a folder where the file should be
    const { opening, logged } = openStore(file);
    const store = await opening;
    await store.getOrCreate(8, () => makeSession(8));
    // Nothing is saved: a change the API would acknowledge, or an id it would name, is refused.
    await expect(store.replace(makeSession(8))).rejects.toThrow(/could not be read at start \(EISDIR\)/);
    await expect(store.delete(8)).rejects.toThrow(/could not be read at start/);
    await expect(store.flush(8)).rejects.toThrow(/could not be read at start/);
    expect(store.health()).toEqual({ state: 'fallback', outages: 0 });
    await store.close();
    expect(logged('cannot read the session file: starting empty; nothing is saved and /session/new, /session/reset are refused until the path holds no file or a readable one at a restart')).toHaveLength(1);
    expect(readdirSync(file)).toEqual([]);
  });

  // Read whole, a file of any size was taken into memory (a device like /dev/zero never ends):
  // past what every port's session could fill, it is a path that cannot be read, left alone.
  it('a file over 64 MiB is not read: a path it cannot read, never written over', async () => {
    const file = tempFile();
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, JSON.stringify({ version: 1, sessions: [makeSession(8)] }));
    truncateSync(file, 64 * 1024 * 1024 + 1); // sparse: no disk, no time
    const { opening } = openStore(file);
    const store = await opening;
    expect(store.health()).toEqual({ state: 'fallback', outages: 0 });
    await expect(store.replace(makeSession(8))).rejects.toThrow(/could not be read at start \(larger than 64 MiB \(67108865 bytes\)\)/);
    await store.close();
    expect(statSync(file).size).toBe(64 * 1024 * 1024 + 1);
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

  // The stop writes the file from memory even when every change is saved (the file may have been
  // spoiled since). That write failing (a full or read-only disk) failed the stop although the
  // file held every session: a false alarm. It fails only when something is truly lost.
  it('a stop whose last write fails succeeds while the file holds every session, and fails when it does not', async () => {
    let failWrites = false;
    const failing = async (target: string, text: string): Promise<void> => {
      if (failWrites) throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
      const { writeAtomically } = await import('../../src/store/atomic-file.js');
      return writeAtomically(target, text);
    };
    const intact = tempFile();
    const first = await openStore(intact, { write: failing }).opening;
    await first.replace(makeSession(3));
    failWrites = true;
    await expect(first.close()).resolves.toBeUndefined();

    failWrites = false;
    const spoiled = tempFile();
    const second = await openStore(spoiled, { write: failing }).opening;
    await second.replace(makeSession(4));
    writeFileSync(spoiled, 'spoiled');
    failWrites = true;
    await expect(second.close()).rejects.toThrow(/could not save the sessions/);
  });
});
