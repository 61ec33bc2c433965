import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createLogger } from '../../src/logging/logger.js';
import { writeAtomically } from '../../src/store/atomic-file.js';
import { FileSessionStore } from '../../src/store/file-store.js';
import { request } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { logSink, startStickyport, upstreamUrl, type RunningProxy } from '../helpers/stickyport.js';
import { TEST_ID_RULE } from '../store/session-store.contract.js';

// With SessionAPI.ExposeSessionHeader, an answer names its session. On the file store a session
// made by traffic is saved a moment later, so the answer named an id that a kill -9 in that
// moment lost (the port had another id after the restart), where the session API names a
// session only once it is on disk. The header now waits for the same.

let origin: Origin;
let upstream: RecordingUpstream;
let proxy: RunningProxy;
let file: string;
const held: Array<() => void> = [];
let holding = true;
let writeStarted: (() => void) | undefined;

beforeAll(async () => {
  origin = await startOrigin();
  upstream = await startRecordingUpstream();
  file = path.join(mkdtempSync(path.join(tmpdir(), 'stickyport-header-')), 'sessions.json');
  const store = await FileSessionStore.open({
    path: file,
    log: createLogger('warn', logSink().stream),
    idRule: TEST_ID_RULE,
    write: async (to, text) => {
      writeStarted?.();
      if (holding) await new Promise<void>((resolve) => held.push(resolve));
      await writeAtomically(to, text);
    },
  });
  proxy = await startStickyport({ Upstream: { Url: upstreamUrl(upstream.port) }, SessionAPI: { ExposeSessionHeader: true } }, { portCount: 1, store });
});

afterAll(async () => {
  holding = false;
  for (const release of held.splice(0)) release();
  await proxy?.stop();
  await upstream?.close();
  await origin?.close();
});

it('the first answer on a session made by traffic names it only once the file holds it', async () => {
  const started = new Promise<void>((resolve) => (writeStarted = resolve));
  let answered = false;
  const answer = request(proxy.ports[0]!, `${origin.url}/`).then((seen) => {
    answered = true;
    return seen;
  });
  await started;
  // The save is held: the request has gone out (or waits), but no answer has named the id yet.
  await new Promise((resolve) => setImmediate(resolve));
  await new Promise((resolve) => setTimeout(resolve, 50));
  expect(answered).toBe(false);
  holding = false;
  for (const release of held.splice(0)) release();
  const seen = await answer;
  const named = seen.headers['x-stickyport-session-id'];
  expect(named).toBe(upstream.seen.at(-1)!.session);
  expect((JSON.parse(readFileSync(file, 'utf8')) as { sessions: Array<{ id: string }> }).sessions.map((session) => session.id)).toEqual([named]);
});
