// kill -9 right after the session API answered: what it answered must be what comes back.
// The file store used to coalesce every save, so an answered /session/new or /session/reset
// was still in memory when the process died (20 of 20 came back with the old id).
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { apiJson, request } from '../helpers/client.js';
import { eventually } from '../helpers/eventually.js';
import { fileStoreProcess } from '../helpers/file-store-process.js';
import { spawnStickyport, type SpawnedStickyport } from '../helpers/spawn-stickyport.js';

interface SessionAnswer {
  session_id: string;
}

const ROUNDS = 20;

const running: SpawnedStickyport[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((proc) => proc.stop('SIGKILL')));
});

/** A file store in a fresh folder, two ports with the session API on, and a way to (re)start on them. */
const setup = () => fileStoreProcess(running, 10);

/** SIGKILL, as a crash would: no flush, no close. */
async function crash(proc: SpawnedStickyport): Promise<void> {
  proc.child.kill('SIGKILL');
  await proc.exited;
}

describe('the file store under kill -9 (node dist/main.js)', () => {
  // What the API answered comes back after a crash: an id /session/new made, and an id a GET
  // /session/ made on a port with none, as traffic would (traffic's own sessions are saved in
  // the background: such ids were lost 5 of 5 before the GET waited for their write).
  const ANSWERS: Array<[string, (port: number) => Promise<string>]> = [
    ['an answered /session/new', async (port) => (await apiJson<SessionAnswer>(port, '/session/new')).session_id],
    ['the id a GET /session/ created and answered', async (port) => {
      expect(await apiJson(port, '/session/reset')).toEqual({ success: true });
      return (await apiJson<SessionAnswer>(port, '/session/')).session_id;
    }],
  ];

  it.each(ANSWERS)(`%s survives a kill -9 right after the answer, ${ROUNDS} times of ${ROUNDS}`, async (_, answer) => {
    const { port, launch } = await setup();
    let proc = await launch();
    const lost: string[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const answered = await answer(port);
      await crash(proc);
      proc = await launch();
      const after = (await apiJson<SessionAnswer>(port, '/session/')).session_id;
      if (after !== answered) lost.push(`round ${round}: answered ${answered}, came back ${after}`);
    }
    expect(lost).toEqual([]);
  }, 90_000);

  // Two processes on one file overwrote each other's saves, each acknowledging what the other
  // then lost. The second now refuses to start; a lock left by a kill -9 is taken over.
  it('a second process on the same file refuses to start, naming the first; after a kill -9 of the first, a new one starts', async () => {
    const { port, storePath, launch } = await setup();
    const first = await launch();
    const answered = (await apiJson<SessionAnswer>(port, '/session/new')).session_id;
    const second = spawnStickyport(['--config', first.child.spawnargs.at(-1)!]);
    running.push(second);
    expect(await second.exited).toBe(1);
    expect(second.stderr.join('')).toContain(`SessionStore.Path ${storePath} is in use by another stickyport (pid ${first.child.pid}`);
    // The first one is untouched: it still answers, and its file holds what it answered.
    expect((await apiJson<SessionAnswer>(port, '/session/')).session_id).toBe(answered);
    await crash(first);
    const third = await launch();
    expect((await apiJson<SessionAnswer>(port, '/session/')).session_id).toBe(answered);
    // A stop removes the lock.
    expect(await third.stop()).toBe(0);
    expect(existsSync(`${storePath}.lock`)).toBe(false);
  }, 30_000);

  it(`an answered /session/reset survives a kill -9 right after the answer: the old id never comes back, ${ROUNDS} times of ${ROUNDS}`, async () => {
    const { port, storePath, launch } = await setup();
    let proc = await launch();
    const revived: string[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const old = (await apiJson<SessionAnswer>(port, '/session/new')).session_id;
      // The old id is on disk before the reset (so that the reset has something to lose).
      await eventually(() => existsSync(storePath) && readFileSync(storePath, 'utf8').includes(old), 'the new id is saved', 5_000);
      expect(await apiJson(port, '/session/reset')).toEqual({ success: true });
      await crash(proc);
      proc = await launch();
      const after = (await apiJson<SessionAnswer>(port, '/session/')).session_id;
      if (after === old) revived.push(`round ${round}: ${old} came back after its reset`);
    }
    expect(revived).toEqual([]);
  }, 90_000);

  it('leaves no temp file behind after a kill -9 during a burst of rotations, and the file loads', async () => {
    const { folder, storePath, port, launch } = await setup();
    // What an earlier process killed mid-write leaves, and files that are not the store's own.
    const stale = 'sessions.json.4242.0badf00d.tmp';
    const notOurs = ['sessions.json.backup.tmp', 'other.json.4242.0badf00d.tmp', 'sessions.json.4242.0badf00d.tmp.keep'];
    for (const name of [stale, ...notOurs]) writeFileSync(path.join(folder, name), '{"version":1,"sessions":[');
    const proc = await launch();

    // A burst of rotations on both ports, and the kill in the middle of it.
    let answered = 0;
    const burst = Array.from({ length: 200 }, (_, i) =>
      request(port + (i % 2), 'http://portmapper/session/new').then(
        () => void answered++,
        () => undefined, // the kill cuts the requests still in flight
      ),
    );
    await eventually(() => answered >= 50, '50 rotations answered', 10_000);
    await crash(proc);
    await Promise.all(burst);

    const restarted = await launch();
    expect(readdirSync(folder).filter((name) => name.endsWith('.tmp')).sort()).toEqual(notOurs.filter((name) => name.endsWith('.tmp')).sort());
    expect(readdirSync(folder)).toContain('sessions.json.4242.0badf00d.tmp.keep');
    const loaded = restarted.stdout.map((line) => JSON.parse(line)).find((entry) => entry.msg === 'sessions loaded');
    expect(loaded).toMatchObject({ loaded: 2 });
    expect(JSON.parse(readFileSync(storePath, 'utf8')).sessions).toHaveLength(2);
  }, 60_000);
});
