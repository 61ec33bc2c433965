import { once } from 'node:events';
import net from 'node:net';
import { afterAll, expect, it } from 'vitest';
import { adminClient } from '../helpers/admin.js';
import { freePort, freePortRange } from '../helpers/ports.js';
import { spawnStickyport, writeConfig, type SpawnedStickyport } from '../helpers/spawn-stickyport.js';

// Node's HTTP server parses a whole read at once: a client that wrote 1 200 pipelined
// `GET /api/ports?limit=1000` in one 64 KB write and never read had every one of the 1 200
// answers built and held (an adversarial pass: 250 MB per connection on 500 ports; 43 such
// connections, under the 64-connection cap and with no token needed on loopback, killed the
// process, every proxy port with it). Answers are now built one at a time, each once the one
// before it is written, as on the proxy ports. Judged on a process with a small heap: before,
// a few such connections ran it out of memory.

const PORTS = 300;
const CONNECTIONS = 8;
let proc: SpawnedStickyport | undefined;
const held: net.Socket[] = [];
afterAll(async () => {
  for (const socket of held) socket.destroy();
  await proc?.stop('SIGKILL');
});

it('a client pipelining big admin answers without reading holds one answer, not all of them', async () => {
  const first = await freePortRange(PORTS);
  const adminPort = await freePort();
  const file = writeConfig({ Listen: { PortRange: { Start: first, End: first + PORTS - 1 } }, Admin: { Enabled: true, Port: adminPort } });
  proc = spawnStickyport(['--config', file], {}, { nodeArgs: ['--max-old-space-size=96'] });
  await proc.waitForLine(/stickyport listening/);
  const admin = adminClient(adminPort);
  const one = 'GET /api/ports?limit=1000 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n';
  const pipeline = one.repeat(Math.floor(65_536 / one.length));
  // One answer is tens of KB (300 ports): 1 200 of them held per connection run a 96 MB heap out.
  const sample = await admin.get('/api/ports?limit=1000');
  expect(sample.status).toBe(200);
  expect(sample.text.length * Math.floor(65_536 / one.length) * CONNECTIONS).toBeGreaterThan(400 * 1024 * 1024);
  for (let i = 0; i < CONNECTIONS; i++) {
    const socket = net.connect({ host: '127.0.0.1', port: adminPort });
    held.push(socket);
    socket.on('error', () => undefined);
    await once(socket, 'connect');
    socket.pause();
    socket.write(pipeline);
    // Each connection's answer under way before the next: the server has taken its pipeline in.
    const probe = await admin.get('/healthz');
    expect(probe.status).toBe(200);
  }
  // Still alive and answering, with every pipeline parsed and waiting.
  expect(proc.child.exitCode).toBeNull();
  expect((await admin.get('/healthz')).json).toMatchObject({ status: 'ok', ports: PORTS });
  const late = await admin.get('/api/ports?limit=5');
  expect(late.status).toBe(200);
  expect(proc.stderr.join('')).not.toMatch(/heap out of memory/);
}, 60_000);
