import { mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createApp, type App } from '../../src/app.js';
import { loadConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/logging/logger.js';
import { request } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { freePortRange } from '../helpers/ports.js';
import { logSink } from '../helpers/stickyport.js';

// The listener pool keys its servers by port, but a reload compares (host, port) pairs. A port
// that moves from one mapping to another on a different loopback address is "added" on the new
// host and "removed" on the old one: binding the new listener must not lose track of the old.

let origin: Origin;
let app: App | undefined;
beforeAll(async () => {
  origin = await startOrigin();
});
afterAll(async () => {
  await app?.stop(100);
  await origin?.close();
});

function connects(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

it('a port that moves to a mapping on another address stops listening on the old one and listens on the new', async () => {
  const start = await freePortRange(2);
  const dir = mkdtempSync(path.join(tmpdir(), 'stickyport-movehost-'));
  const write = (mappings: object[]): void =>
    writeFileSync(path.join(dir, 'appsettings.json'), JSON.stringify({ Logging: { Level: 'warn' }, Mappings: mappings }));
  write([{ Name: 'a', Listen: { Host: '127.0.0.1', PortRange: { Start: start, End: start + 1 } } }]);
  const load = () => loadConfig({ cwd: dir, env: {} });
  const config = load();
  app = await createApp(config, { log: createLogger(config.logLevel, logSink().stream), loadConfig: load });
  await app.start();
  expect(await connects('127.0.0.1', start + 1)).toBe(true);

  write([
    { Name: 'a', Listen: { Host: '127.0.0.1', PortRange: { Start: start, End: start } } },
    { Name: 'b', Listen: { Host: '127.0.0.2', PortRange: { Start: start + 1, End: start + 1 } } },
  ]);
  expect(await app.reload('test')).toMatchObject({ applied: true });
  expect(await connects('127.0.0.2', start + 1)).toBe(true);
  expect((await request(start + 1, `${origin.url}/`, { host: '127.0.0.2' })).status).toBe(200);
  expect(app.status().find((s) => s.port === start + 1)).toMatchObject({ listening: true });
  expect(await connects('127.0.0.1', start + 1)).toBe(false);
});

it('a refused reload that moved a port to another address leaves the old listener served and stoppable', async () => {
  const start = await freePortRange(3);
  const busy = net.createServer();
  await new Promise<void>((resolve) => busy.listen({ host: '127.0.0.1', port: start + 2, exclusive: true }, () => resolve()));
  const dir = mkdtempSync(path.join(tmpdir(), 'stickyport-movehost-'));
  const write = (mappings: object[]): void => writeFileSync(path.join(dir, 'appsettings.json'), JSON.stringify({ Logging: { Level: 'warn' }, Mappings: mappings }));
  write([{ Name: 'a', Listen: { Host: '127.0.0.1', PortRange: { Start: start, End: start + 1 } } }]);
  const load = () => loadConfig({ cwd: dir, env: {} });
  const config = load();
  const own = await createApp(config, { log: createLogger(config.logLevel, logSink().stream), loadConfig: load });
  await own.start();
  try {
    write([
      { Name: 'a', Listen: { Host: '127.0.0.1', PortRange: { Start: start, End: start } } },
      { Name: 'b', Listen: { Host: '127.0.0.2', PortRange: { Start: start + 1, End: start + 1 } } },
      { Name: 'c', Listen: { Host: '127.0.0.1', PortRange: { Start: start + 2, End: start + 2 } } },
    ]);
    expect(await own.reload('test')).toMatchObject({ applied: false, message: expect.stringContaining(`port ${start + 2} (EADDRINUSE)`) });
    expect(await connects('127.0.0.2', start + 1)).toBe(false);
    expect(own.status().find((s) => s.port === start + 1)).toMatchObject({ listening: true });
    expect((await request(start + 1, `${origin.url}/`)).status).toBe(200);
  } finally {
    await own.stop(100);
    await new Promise<void>((resolve) => busy.close(() => resolve()));
  }
  // Stopped means stopped: no listener left behind on the old address.
  expect(await connects('127.0.0.1', start + 1)).toBe(false);
});
