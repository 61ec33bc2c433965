// The session file spoiled behind stickyport's back (garbage written into it, truncated,
// deleted) and then a clean stop: the stop saved only when a change was unsaved, so the spoiled
// file stayed, and the restart moved it aside (or found none) and lost the id the API had
// answered, although the process held every session in memory and the lock on the file.
import { mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { apiJson } from '../helpers/client.js';
import { freePortRange } from '../helpers/ports.js';
import { spawnStickyport, writeConfig, type SpawnedStickyport } from '../helpers/spawn-stickyport.js';

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
  const folder = mkdtempSync(path.join(tmpdir(), 'stickyport-tamper-'));
  const storePath = path.join(folder, 'sessions.json');
  const start = await freePortRange(2);
  const config = writeConfig({
    Listen: { Host: '127.0.0.1', PortRange: { Start: start, End: start + 1 }, StickyProxyLifetime: 600 },
    SessionAPI: { Enabled: true, Domain: 'portmapper' },
    SessionStore: { Type: 'file', Path: storePath },
    Logging: { Level: 'info' },
  });
  const launch = async (): Promise<SpawnedStickyport> => {
    const proc = spawnStickyport(['--config', config]);
    running.push(proc);
    await proc.waitForLine(/"msg":"stickyport listening"/);
    return proc;
  };

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
