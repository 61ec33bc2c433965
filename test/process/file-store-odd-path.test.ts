// A FIFO at SessionStore.Path: start-up awaited readFile on it, which blocks until a writer
// comes (never), so stickyport never listened and a SIGTERM could not stop it. A device or a
// huge file would be read whole into memory. Anything but a regular file of a sane size is a
// path that cannot be read at start: served from memory, the session API refused, never written.
import { execFileSync } from 'node:child_process';
import { readdirSync, realpathSync, statSync } from 'node:fs';
import { afterEach, expect, it } from 'vitest';
import { request } from '../helpers/client.js';
import { fileStoreProcess } from '../helpers/file-store-process.js';
import type { SpawnedStickyport } from '../helpers/spawn-stickyport.js';

const running: SpawnedStickyport[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((proc) => proc.stop('SIGKILL')));
});

it('a FIFO as the session file: starts, serves, the session API 503 naming it, and SIGTERM stops it', async () => {
  const { folder, storePath, port, launch } = await fileStoreProcess(running, 600);
  execFileSync('mkfifo', [storePath]);

  const proc = await Promise.race([
    launch(),
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error('never listened: start-up hangs on the FIFO')), 8_000)),
  ]);
  const said = proc.stdout.find((line) => line.includes('cannot read the session file'));
  expect(said).toContain('FIFO');
  // The operator's path, not a bug: its reason and code, no stack trace.
  expect(said).not.toContain('    at ');
  // Traffic is served (this target refuses: not a 503 from the store).
  expect((await request(port, 'http://127.0.0.1:9/x')).status).not.toBe(503);
  for (const call of ['/session/new', '/session/reset', '/session/']) {
    const answer = await request(port, `http://portmapper${call}`);
    expect(answer.status, call).toBe(503);
    expect(answer.body, call).toContain(realpathSync(storePath));
  }

  const stopped = await Promise.race([proc.stop('SIGTERM'), new Promise<string>((resolve) => setTimeout(() => resolve('still running'), 5_000))]);
  expect(stopped).toBe(0);
  // The FIFO is left as it was, and so is nothing else: no lock, no temp file.
  expect(statSync(storePath).isFIFO()).toBe(true);
  expect(readdirSync(folder)).toEqual(['sessions.json']);
}, 30_000);
