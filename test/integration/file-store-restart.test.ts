import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { apiJson, request } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { freePortRange } from '../helpers/ports.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { spawnStickyport, writeConfig, type SpawnedStickyport } from '../helpers/spawn-stickyport.js';
import { upstreamUrl } from '../helpers/stickyport.js';

interface SessionAnswer {
  session_id: string;
  expires_at: string | null;
}

describe('the file session store across restarts of node dist/main.js', () => {
  let origin: Origin;
  let upstream: RecordingUpstream;
  const running: SpawnedStickyport[] = [];
  beforeAll(async () => {
    origin = await startOrigin();
    upstream = await startRecordingUpstream();
  });
  afterEach(async () => {
    await Promise.all(running.splice(0).map((proc) => proc.stop('SIGKILL')));
  });
  afterAll(async () => {
    await upstream?.close();
    await origin?.close();
  });

  /** A config for two ports with the file store at `storePath`, and a way to start it. */
  async function setup(storePath: string) {
    const start = await freePortRange(2);
    const config = writeConfig({
      Listen: { Host: '127.0.0.1', PortRange: { Start: start, End: start + 1 }, StickyProxyLifetime: 10 },
      Upstream: { Url: upstreamUrl(upstream.port) },
      SessionAPI: { Enabled: true, Domain: 'portmapper' },
      SessionStore: { Type: 'file', Path: storePath },
      Logging: { Level: 'info' },
    });
    const launch = async () => {
      const proc = spawnStickyport(['--config', config]);
      running.push(proc);
      const ready = JSON.parse(await proc.waitForLine(/"msg":"stickyport listening"/));
      expect(ready.store).toBe('file');
      return proc;
    };
    return { ports: [start, start + 1], launch };
  }

  /** The session id the upstream saw for a request through `port` to a path marked `marker`. */
  async function sessionThrough(port: number, marker: string): Promise<string | undefined> {
    const answer = await request(port, `${origin.url}/${marker}`);
    expect(answer).toMatchObject({ status: 200, body: 'hello' });
    return upstream.seen.find((entry) => entry.target.endsWith(`/${marker}`))?.session;
  }

  it('keeps every port\'s session id and expiry over a SIGTERM and a new start', async () => {
    // The folder does not exist yet: the store creates it.
    const storePath = path.join(mkdtempSync(path.join(tmpdir(), 'stickyport-restart-')), 'data', 'sessions.json');
    const { ports, launch } = await setup(storePath);

    const first = await launch();
    const seenBefore = await sessionThrough(ports[0]!, 'before-restart');
    const before = await Promise.all(ports.map((port) => apiJson<SessionAnswer>(port, '/session/')));
    expect(before[0]!.session_id).toBe(seenBefore);
    expect(before[1]!.session_id).not.toBe(before[0]!.session_id);
    expect(await first.stop('SIGTERM')).toBe(0);
    const saved = JSON.parse(readFileSync(storePath, 'utf8'));
    expect(saved.sessions.map((session: { id: string }) => session.id).sort()).toEqual(before.map((s) => s.session_id).sort());

    const second = await launch();
    expect(second.stdout.map((line) => JSON.parse(line)).find((entry) => entry.msg === 'sessions loaded')).toMatchObject({ loaded: 2 });
    const after = await Promise.all(ports.map((port) => apiJson<SessionAnswer>(port, '/session/')));
    expect(after).toEqual(before);
    expect(await sessionThrough(ports[0]!, 'after-restart')).toBe(seenBefore);
    expect(await second.stop('SIGTERM')).toBe(0);
    expect(JSON.parse(readFileSync(storePath, 'utf8'))).toEqual(saved);
  });

  it('moves a corrupt session file aside, keeps its bytes, warns, and starts with fresh sessions', async () => {
    const folder = mkdtempSync(path.join(tmpdir(), 'stickyport-corrupt-'));
    const storePath = path.join(folder, 'sessions.json');
    const { ports, launch } = await setup(storePath);
    const original = Buffer.from('{"version":1,"sessions":[{"id":"abcdefgh","port":1,"createdAt":17');
    mkdirSync(folder, { recursive: true });
    writeFileSync(storePath, original);

    const proc = await launch();
    const warning = proc.stdout.map((line) => JSON.parse(line)).find((entry) => entry.level === 40 && /corrupt/.test(entry.msg));
    expect(warning).toBeDefined();
    const aside = readdirSync(folder).filter((name) => name.startsWith('sessions.json.corrupt-'));
    expect(aside).toHaveLength(1);
    expect(warning.movedTo).toBe(path.join(folder, aside[0]!));
    expect(readFileSync(path.join(folder, aside[0]!)).equals(original)).toBe(true);

    const session = await apiJson<SessionAnswer>(ports[0]!, '/session/');
    expect(await sessionThrough(ports[0]!, 'after-corrupt')).toBe(session.session_id);
    expect(await proc.stop('SIGTERM')).toBe(0);
    expect(JSON.parse(readFileSync(storePath, 'utf8')).sessions).toEqual([expect.objectContaining({ id: session.session_id })]);
  });
});
