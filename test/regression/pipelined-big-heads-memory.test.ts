// Regression (hostile pass): at most 64 requests wait on one connection, but 64 heads of 14 KiB
// each, pipelined behind a slow answer on each of 120 connections, held 1.4 MB per connection
// (+170 MB); a client may open a quarter of the open-file limit in connections, thousands. The
// heads waiting on a connection are bounded in bytes too now: past 64 KiB it is read no further
// until they are answered.
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { afterAll, expect, it } from 'vitest';
import { request } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { freePortRange } from '../helpers/ports.js';
import { spawnStickyport, writeConfig, type SpawnedStickyport } from '../helpers/spawn-stickyport.js';

const CONNECTIONS = 60;
const PIPELINED = 80;
let proc: SpawnedStickyport | undefined;
let origin: Origin | undefined;
const sockets: net.Socket[] = [];

afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await proc?.stop('SIGKILL');
  await origin?.close();
});

const rssMb = (pid: number): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

it('requests with big heads pipelined behind a slow answer hold little memory per connection', async () => {
  origin = await startOrigin();
  const start = await freePortRange(2);
  proc = spawnStickyport(['--config', writeConfig({ Listen: { PortRange: { Start: start, End: start + 1 } } })]);
  await proc.waitForLine(/stickyport listening/);
  const pid = proc.child.pid!;
  // Warm: the first requests compile the paths they take.
  for (let i = 0; i < 3; i++) expect((await request(start, `${origin.url}/`)).status).toBe(200);
  const before = rssMb(pid);

  const pad = 'x'.repeat(14 * 1024);
  const slow = `GET ${origin.url}/delay/4000 HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\n\r\n`;
  const big = `GET ${origin.url}/ HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\nX-Pad: ${pad}\r\n\r\n`;
  for (let i = 0; i < CONNECTIONS; i++) {
    const socket = net.connect(start, '127.0.0.1');
    socket.on('error', () => undefined);
    socket.pause();
    sockets.push(socket);
    socket.write(slow + big.repeat(PIPELINED));
  }
  // What the proxy would take of them it takes within a second (the slow answers come at 4 s).
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  const grown = rssMb(pid) - before;
  expect((await request(start + 1, `${origin.url}/`)).status).toBe(200);
  // Before: about 85 MB for 60 connections (1.4 MB each).
  expect(grown).toBeLessThan(40);
}, 30_000);
