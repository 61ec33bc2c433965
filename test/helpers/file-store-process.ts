import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePortRange } from './ports.js';
import { spawnStickyport, writeConfig, type SpawnedStickyport } from './spawn-stickyport.js';

/**
 * A file store in a fresh folder, two ports with the session API on, and `launch()` to start (or
 * restart) `node dist/main.js` on them; every process launched is pushed to `running`, for the
 * test's clean-up.
 */
export async function fileStoreProcess(running: SpawnedStickyport[], lifetimeMinutes: number) {
  const folder = mkdtempSync(path.join(tmpdir(), 'stickyport-file-store-'));
  const storePath = path.join(folder, 'sessions.json');
  const start = await freePortRange(2);
  const config = writeConfig({
    Listen: { Host: '127.0.0.1', PortRange: { Start: start, End: start + 1 }, StickyProxyLifetime: lifetimeMinutes },
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
  return { folder, storePath, port: start, launch };
}
