import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createApp, type App } from '../../src/app.js';
import { loadConfig, reloadLoader } from '../../src/config/load.js';
import { createLogger } from '../../src/logging/logger.js';
import { request } from '../helpers/client.js';
import { freePortRange } from '../helpers/ports.js';
import { fineAnswer } from '../helpers/hostile-server.js';

// A GET whose upstream connection broke before any answer byte goes out once more. The retry
// took the route of the first try's host rule (or the session's main route) as it was: a reload
// in between that denied the host still let the retry out. The way out is now decided again by
// the rules running at the retry.

let held: net.Socket | undefined;
let heldNow: (() => void) | undefined;
const heads: string[] = [];
let upstream: net.Server;
let app: App;
let dir: string;
let port: number;

/** An upstream proxy that holds the first request without an answer; every later one gets a 200. */
beforeAll(async () => {
  upstream = net.createServer((socket) => {
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      const head = chunk.toString('latin1');
      heads.push(head);
      if (heads.length === 1) {
        held = socket;
        heldNow?.();
        return;
      }
      socket.write(fineAnswer(head.split(' ')[1] ?? ''));
    });
  });
  upstream.listen(0, '127.0.0.1');
  await once(upstream, 'listening');
  port = await freePortRange(1);
  dir = mkdtempSync(path.join(tmpdir(), 'stickyport-retry-reload-'));
  write([]);
  const options = { cwd: dir, env: {} };
  const config = loadConfig(options);
  app = await createApp(config, { log: createLogger('silent'), loadConfig: reloadLoader(options) });
  await app.start();
});

afterAll(async () => {
  await app?.stop(100);
  held?.destroy();
  upstream?.close();
});

function write(hostRules: object[]): void {
  const url = `http://customer-acme-session-{session}:secret@127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  writeFileSync(path.join(dir, 'appsettings.json'), JSON.stringify({ Listen: { Host: '127.0.0.1', PortRange: { Start: port, End: port } }, Upstream: { Url: url }, HostRules: hostRules }));
}

it('a Deny added by a reload between a GET\'s first try and its retry: the retry is not sent, the client gets 403', async () => {
  const isHeld = new Promise<void>((resolve) => (heldNow = resolve));
  const answer = request(port, 'http://denied.test/page');
  await isHeld;
  write([{ Pattern: 'denied.test', Action: 'Deny' }]);
  expect(await app.reload('test')).toMatchObject({ applied: true, changed: ['HostRules'] });
  // The held connection breaks before any answer byte: the GET would go out again.
  held!.resetAndDestroy();
  expect((await answer).status).toBe(403);
  expect(heads).toHaveLength(1);
});
