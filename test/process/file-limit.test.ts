import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { RawClient } from '../helpers/socks-client.js';
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
      for (const socket of sockets.splice(0)) socket.destroy();
      await proc?.stop('SIGKILL');
      await origin.close();
    }
  });
});

/** A CONNECT through `port` from `localAddress`: its status, or 'closed' when refused at accept. */
function tunnel(port: number, localAddress: string, target: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1', localAddress });
    sockets.push(socket);
    let head = '';
    socket.on('error', () => resolve('closed'));
    socket.once('close', () => resolve('closed'));
    socket.once('connect', () => socket.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`));
    socket.on('data', (chunk: Buffer) => {
      head += chunk.toString('latin1');
      if (head.includes('\r\n\r\n')) resolve(head.slice(9, 12));
    });
  });
}

// Several client addresses, each within its own share, together took every descriptor: tunnels
// were answered 502 (EMFILE), and a rotation could not be saved. Client connections together
// now stop short of the open-file limit, with a reserve for the process's own work.
describe('node dist/main.js under ulimit -n 512, four clients opening tunnels together', () => {
  it('opens every tunnel it admits, refuses the rest, and a client already connected still rotates and saves', async () => {
    const origin = await startOrigin();
    try {
      const start = await freePortRange(4);
      const file = path.join(mkdtempSync(path.join(tmpdir(), 'stickyport-fd-')), 'sessions.json');
      proc = spawnStickyport(
        ['--config', writeConfig({ Listen: { PortRange: { Start: start, End: start + 3 } }, SessionAPI: { Enabled: true }, SessionStore: { Type: 'file', Path: file } })],
        {},
        { fileLimit: 512 },
      );
      const ready = JSON.parse(await proc.waitForLine(/stickyport listening/));
      // (512 - 4 listening - 128 kept) / 2: each connection may cost two descriptors.
      expect(ready.maxConnections).toBe(190);

      const api = await RawClient.connect(start + 3);
      api.send('GET http://portmapper/session/ HTTP/1.1\r\nHost: portmapper\r\n\r\n');
      expect((await api.readAnswer()).status).toBe(200);

      const opening: Array<Promise<string>> = [];
      for (let client = 2; client <= 5; client++) {
        for (let i = 0; i < 120; i++) opening.push(tunnel(start + (i % 3), `127.0.0.${client}`, `127.0.0.1:${origin.port}`));
      }
      const outcomes = await Promise.all(opening);
      const count = (what: string): number => outcomes.filter((outcome) => outcome === what).length;
      expect({ failed: outcomes.filter((outcome) => outcome !== '200' && outcome !== 'closed') }).toEqual({ failed: [] });
      expect(count('200')).toBeLessThanOrEqual(190);
      expect(count('200')).toBeGreaterThan(150);

      api.send('GET http://portmapper/session/new HTTP/1.1\r\nHost: portmapper\r\n\r\n');
      const rotated = await api.readAnswer();
      expect(rotated.status).toBe(200);
      const id = (JSON.parse(rotated.body) as { session_id: string }).session_id;
      expect(readFileSync(file, 'utf8')).toContain(id);
      api.destroy();
      expect(proc.child.exitCode).toBeNull();
    } finally {
      for (const socket of sockets.splice(0)) socket.destroy();
      await proc?.stop('SIGKILL');
      await origin.close();
    }
  });
});

// The cap was reckoned once, from the ports listening at start: 150 more ports bound by a
// reload each held a descriptor the cap still gave to clients, and tunnels failed with EMFILE.
describe('node dist/main.js under ulimit -n 512, after a reload binds 150 more ports', () => {
  it('lowers the cap by what the new listeners hold: every tunnel it admits opens', async () => {
    const origin = await startOrigin();
    try {
      const start = await freePortRange(154);
      const settings = (end: number) => JSON.stringify({ Listen: { PortRange: { Start: start, End: end } } });
      const config = writeConfig({});
      writeFileSync(config, settings(start + 3));
      proc = spawnStickyport(['--config', config], {}, { fileLimit: 512 });
      expect(JSON.parse(await proc.waitForLine(/stickyport listening/)).maxConnections).toBe(190);

      writeFileSync(config, settings(start + 153));
      proc.child.kill('SIGHUP');
      // (512 - 154 listening - 128 kept) / 2.
      expect(JSON.parse(await proc.waitForLine(/the cap follows the ports/)).maxConnections).toBe(115);

      const opening: Array<Promise<string>> = [];
      for (let client = 2; client <= 5; client++) {
        for (let i = 0; i < 60; i++) opening.push(tunnel(start + 4 + (i % 100), `127.0.0.${client}`, `127.0.0.1:${origin.port}`));
      }
      const outcomes = await Promise.all(opening);
      expect({ failed: outcomes.filter((outcome) => outcome !== '200' && outcome !== 'closed') }).toEqual({ failed: [] });
      expect(outcomes.filter((outcome) => outcome === '200').length).toBeLessThanOrEqual(115);
      expect(outcomes.filter((outcome) => outcome === '200').length).toBeGreaterThan(90);
      expect(proc.child.exitCode).toBeNull();
    } finally {
      for (const socket of sockets.splice(0)) socket.destroy();
      await proc?.stop('SIGKILL');
      await origin.close();
    }
  });
});
