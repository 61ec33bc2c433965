import net from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { request } from '../helpers/client.js';
import { eventually } from '../helpers/eventually.js';
import { startOrigin } from '../helpers/origin.js';
import { freePortRange } from '../helpers/ports.js';
import { spawnStickyport, writeConfig, type SpawnedStickyport } from '../helpers/spawn-stickyport.js';

// Under a 1 024 open-file limit, one client holding 1 100 idle connections must not take the
// descriptors every other port needs: the automatic per-client limit refuses it past its share.
const HOSTILE_CONNECTIONS = 1_100;
const sockets: net.Socket[] = [];
let proc: SpawnedStickyport | undefined;

afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await proc?.stop('SIGKILL');
});

/** Resolves once the kernel completed the connection (accepted by the proxy or not yet). */
function connected(socket: net.Socket): Promise<void> {
  return new Promise((resolve) => {
    socket.on('error', () => resolve());
    socket.once('close', () => resolve());
    socket.once('connect', () => resolve());
  });
}

describe('node dist/main.js under ulimit -n 1024', () => {
  it('keeps every port serving while one client holds 1 100 idle connections', async () => {
    const origin = await startOrigin();
    try {
      const start = await freePortRange(4);
      proc = spawnStickyport(['--config', writeConfig({ Listen: { PortRange: { Start: start, End: start + 3 } } })], {}, { fileLimit: 1024 });
      const ready = JSON.parse(await proc.waitForLine(/stickyport listening/));
      expect(ready.maxConnectionsPerClient).toBe(256);

      const opening: Array<Promise<void>> = [];
      for (let i = 0; i < HOSTILE_CONNECTIONS; i++) {
        const socket = net.connect({ port: start, host: '127.0.0.1', localAddress: '127.0.0.2' });
        sockets.push(socket);
        opening.push(connected(socket));
      }
      await Promise.all(opening);
      // The proxy closes what it refuses: what stays open is what it holds.
      await eventually(() => sockets.filter((socket) => !socket.destroyed).length <= 256, 'the proxy holds at most 256 of them');
      expect(sockets.filter((socket) => !socket.destroyed).length).toBeGreaterThan(200);

      // Another client, on the crowded port and on the others: served.
      for (let port = start; port <= start + 3; port++) {
        const answer = await request(port, `${origin.url}/`);
        expect(answer.status).toBe(200);
      }
      expect(proc.child.exitCode).toBeNull();
      await proc.waitForLine(/connection refused/);
      expect(proc.stdout.filter((line) => line.includes('connection refused: client'))).toHaveLength(1);
    } finally {
      await origin.close();
    }
  });
});
