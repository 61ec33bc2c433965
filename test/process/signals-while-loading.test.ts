// A signal that came while node loaded stickyport's code (about 0.3 s, before the handlers of
// start-up existed) met node's default action: SIGTERM or SIGHUP then killed the process. The
// entry (src/main.ts) now records them before loading anything, and start-up acts on them as
// on any signal during start-up. The load is held by module hooks (test/helpers/hold-loading.mjs)
// until the signal was sent, so the signal lands while the code loads, every time.
import type net from 'node:net';
import path from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { freePortRange } from '../helpers/ports.js';
import { spawnStickyport, writeConfig, type SpawnedStickyport } from '../helpers/spawn-stickyport.js';
import { startTcpServer, type TcpServer } from '../helpers/tcp-server.js';

const HOLD = path.resolve(import.meta.dirname, '../helpers/hold-loading.mjs');
const running: SpawnedStickyport[] = [];
const servers: TcpServer[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((proc) => proc.stop('SIGKILL')));
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

/** stickyport spawned with `args`, its code's load held; resolves once the load is held. */
async function heldWhileLoading(args: string[]) {
  let holding: (socket: net.Socket) => void = () => undefined;
  const held = new Promise<net.Socket>((resolve) => (holding = resolve));
  const gate = await startTcpServer((socket) => holding(socket));
  servers.push(gate);
  const proc = spawnStickyport(args, { HOLD_LOADING_PORT: String(gate.port) }, { nodeArgs: ['--import', HOLD] });
  running.push(proc);
  const socket = await Promise.race([held, proc.exited.then((code) => Promise.reject(new Error(`exited ${code} before its load was held`)))]);
  return { proc, release: () => socket.write('go') };
}

async function startArgs(): Promise<string[]> {
  const start = await freePortRange(1);
  return ['--config', writeConfig({ Listen: { Host: '127.0.0.1', PortRange: { Start: start, End: start } }, Logging: { Level: 'info' } })];
}

const records = (proc: SpawnedStickyport) => proc.stdout.map((line) => JSON.parse(line) as { msg: string; signal?: string });

it.each(['SIGTERM', 'SIGINT'] as const)('a %s while the code loads stops it cleanly: exit 0, never listening', async (signal) => {
  const { proc, release } = await heldWhileLoading(await startArgs());
  proc.child.kill(signal);
  release();
  expect(await proc.exited).toBe(0);
  const said = records(proc);
  expect(said).toContainEqual(expect.objectContaining({ msg: 'stopping', signal }));
  expect(said.map((line) => line.msg)).toContain('stopped');
  expect(said.map((line) => line.msg)).not.toContain('stickyport listening');
}, 20_000);

it('a SIGHUP while the code loads is logged and ignored: it starts, and a SIGTERM then stops it with 0', async () => {
  const { proc, release } = await heldWhileLoading(await startArgs());
  proc.child.kill('SIGHUP');
  release();
  await proc.waitForLine(/"msg":"stickyport listening"/);
  expect(records(proc)).toContainEqual(expect.objectContaining({ signal: 'SIGHUP', msg: expect.stringMatching(/ignored/) }));
  expect(await proc.stop('SIGTERM')).toBe(0);
}, 20_000);

it('--version after a SIGTERM while loading ends as node would have ended it: by the signal, printing nothing', async () => {
  const { proc, release } = await heldWhileLoading(['--version']);
  proc.child.kill('SIGTERM');
  release();
  await proc.exited;
  expect(proc.child.signalCode).toBe('SIGTERM');
  expect(proc.stdout).toEqual([]);
}, 20_000);
