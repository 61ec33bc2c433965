// Regression (adversarial review): the per-client and per-port connection limits count client
// connections, but one client connection can make stickyport open any number of upstream
// connections by pipelining: every pipelined request is dispatched at once, each on its own
// upstream connection (the session pools have no connection cap), while their answers wait in
// line. Under `ulimit -n 256` (automatic limit: 64 connections per client), ONE connection
// pipelining 400 GETs to a slow target took every descriptor: other clients on other ports got
// 502 "failed: EMFILE" (169 such log lines by hand). The upstream side of a client connection
// needs a bound too (requests in flight per connection, or connections per session pool).
import net from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { request } from '../helpers/client.js';
import { startOrigin } from '../helpers/origin.js';
import { freePortRange } from '../helpers/ports.js';
import { spawnStickyport, writeConfig, type SpawnedStickyport } from '../helpers/spawn-stickyport.js';

const PIPELINED = 400;
let proc: SpawnedStickyport | undefined;
let hostile: net.Socket | undefined;

afterAll(async () => {
  hostile?.destroy();
  await proc?.stop('SIGKILL');
});

describe('node dist/main.js under ulimit -n 256', () => {
  it('keeps the other ports serving while one client connection pipelines 400 requests to a slow target', async () => {
    const origin = await startOrigin();
    try {
      const start = await freePortRange(2);
      proc = spawnStickyport(['--config', writeConfig({ Listen: { PortRange: { Start: start, End: start + 1 } } })], {}, { fileLimit: 256 });
      await proc.waitForLine(/stickyport listening/);

      // One connection, well within every connection limit; its requests wait 10 s upstream.
      hostile = net.connect(start, '127.0.0.1');
      hostile.on('error', () => undefined);
      hostile.on('data', () => undefined);
      const one = `GET ${origin.url}/delay/10000 HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\n\r\n`;
      hostile.write(one.repeat(PIPELINED));
      await new Promise((resolve) => setTimeout(resolve, 1_500));

      // Another client on the other port.
      const answer = await request(start + 1, `${origin.url}/`);
      expect(answer.body).not.toContain('EMFILE');
      expect(answer.status).toBe(200);
      expect(proc.child.exitCode).toBeNull();
    } finally {
      hostile?.destroy();
      await origin.close();
    }
  });
});
