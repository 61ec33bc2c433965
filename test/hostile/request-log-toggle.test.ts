import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createApp } from '../../src/app.js';
import { loadConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/logging/logger.js';
import { openTunnel, request } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { freePortRange } from '../helpers/ports.js';
import { logSink } from '../helpers/stickyport.js';

// Logging.Requests switched by reloads while requests and tunnels are in flight: nothing
// breaks, and what starts while the log is on is logged with sane numbers.

let origin: Origin;
beforeAll(async () => {
  origin = await startOrigin();
});
afterAll(async () => {
  await origin.close();
});

it('reloads turning the request log on and off while requests and tunnels run', async () => {
  const start = await freePortRange(1);
  const dir = mkdtempSync(path.join(tmpdir(), 'stickyport-toggle-'));
  const write = (requests: boolean): void =>
    writeFileSync(
      path.join(dir, 'appsettings.json'),
      JSON.stringify({ Listen: { Host: '127.0.0.1', PortRange: { Start: start, End: start } }, Logging: { Level: 'info', Requests: requests } }),
    );
  write(false);
  const load = () => loadConfig({ cwd: dir, env: {} });
  const sink = logSink();
  const config = load();
  const app = await createApp(config, { log: createLogger(config.logLevel, sink.stream), loadConfig: load });
  await app.start();
  try {
    for (let round = 0; round < 4; round++) {
      const on = round % 2 === 1;
      const slow = request(start, `${origin.url}/delay/300`);
      const tunnel = await openTunnel(start, `127.0.0.1:${origin.port}`);
      expect(tunnel.status).toBe(200);
      write(!on);
      expect(await app.reload('test')).toMatchObject({ applied: true });
      expect((await slow).status).toBe(200);
      tunnel.socket.destroy();
      expect((await request(start, `${origin.url}/delay/${round + 1}`)).status).toBe(200);
    }
  } finally {
    // Each answer's record is written when the proxy's response closes, before its client has
    // the whole answer; the stop flushes what the log still batches.
    await app.stop(500);
  }
  const records = sink.lines.filter((line) => line.includes('"request completed"')).map((line) => JSON.parse(line) as Record<string, unknown>);
  expect(sink.lines.filter((line) => line.includes('BUG'))).toEqual([]);
  for (const record of records) {
    expect(record.port).toBe(start);
    expect(record.durationMs as number).toBeLessThan(10_000);
  }
  // Rounds 0 and 2 end with the log on: their last requests are logged; rounds 1 and 3 with it off.
  const paths = records.map((r) => String(r.path));
  expect(paths.filter((p) => p === '/delay/1' || p === '/delay/3').length).toBe(2);
  expect(paths.filter((p) => p === '/delay/2' || p === '/delay/4')).toEqual([]);
}, 30_000);
