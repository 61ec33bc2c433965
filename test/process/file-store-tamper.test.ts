// The session file spoiled behind stickyport's back (garbage written into it, truncated,
// deleted) and then a clean stop: the stop saved only when a change was unsaved, so the spoiled
// file stayed, and the restart moved it aside (or found none) and lost the id the API had
// answered, although the process held every session in memory and the lock on the file.
import { readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { afterEach, expect, it } from 'vitest';
import { apiJson } from '../helpers/client.js';
import { fileStoreProcess } from '../helpers/file-store-process.js';
import type { SpawnedStickyport } from '../helpers/spawn-stickyport.js';

const running: SpawnedStickyport[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((proc) => proc.stop('SIGKILL')));
});

const SPOIL: Array<[string, (file: string) => void]> = [
  ['filled with garbage', (file) => writeFileSync(file, Buffer.from('\u0000\u00ff not json {{{ \u0007'.repeat(20)))],
  ['truncated', (file) => truncateSync(file, 0)],
  ['deleted', (file) => rmSync(file)],
];

it.each(SPOIL)('a clean stop writes the sessions it holds over a session file %s meanwhile', async (_, spoil) => {
  const { folder, storePath, port: start, launch } = await fileStoreProcess(running, 600);

  const first = await launch();
  const answered = (await apiJson<{ session_id: string }>(start, '/session/new')).session_id;
  const other = (await apiJson<{ session_id: string }>(start + 1, '/session/new')).session_id;
  spoil(storePath);
  expect(await first.stop('SIGTERM')).toBe(0);

  // The stop wrote the file whole, with both sessions, and left no temp file.
  const saved = JSON.parse(readFileSync(storePath, 'utf8')) as { sessions: Array<{ port: number; id: string }> };
  expect(saved.sessions.map(({ port, id }) => [port, id]).sort()).toEqual([[start, answered], [start + 1, other]]);
  expect(readdirSync(folder).sort()).toEqual(['sessions.json']);

  const second = await launch();
  expect(second.stdout.some((line) => line.includes('corrupt'))).toBe(false);
  expect((await apiJson<{ session_id: string }>(start, '/session/')).session_id).toBe(answered);
  expect(await second.stop('SIGTERM')).toBe(0);
}, 30_000);
