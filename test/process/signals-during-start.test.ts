// SIGHUP or SIGTERM while stickyport starts (here: the store waits on a "Redis" that accepts
// the connection and never answers) met node's default action, because the handlers were
// installed only once the store was open: the process died with status 129 or 143 before it
// listened. Now a SIGHUP then is ignored and logged, and a stop request stops it cleanly.
import net from 'node:net';
import { afterEach, expect, it } from 'vitest';
import { freePortRange } from '../helpers/ports.js';
import { spawnStickyport, writeConfig, type SpawnedStickyport } from '../helpers/spawn-stickyport.js';
import { startTcpServer, type TcpServer } from '../helpers/tcp-server.js';

const running: SpawnedStickyport[] = [];
const servers: TcpServer[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((proc) => proc.stop('SIGKILL')));
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

/** stickyport started on a silent "Redis"; resolves once it is connected to it, mid-start. */
async function startingOnSilentRedis() {
  let connected: () => void = () => undefined;
  const reached = new Promise<void>((resolve) => (connected = resolve));
  const redis = await startTcpServer(() => connected());
  servers.push(redis);
  const start = await freePortRange(2);
  const proc = spawnStickyport([
    '--config',
    writeConfig({
      Listen: { Host: '127.0.0.1', PortRange: { Start: start, End: start + 1 } },
      SessionStore: { Type: 'redis', RedisUrl: `redis://127.0.0.1:${redis.port}`, KeyPrefix: 'starting:' },
      Logging: { Level: 'info' },
    }),
  ]);
  running.push(proc);
  await Promise.race([reached, proc.exited.then((code) => Promise.reject(new Error(`exited ${code} before connecting to Redis`)))]);
  return { proc, start };
}

const messages = (proc: SpawnedStickyport): string[] => proc.stdout.map((line) => (JSON.parse(line) as { msg: string }).msg);

/** Whether 127.0.0.1:`port` can be bound now (nothing holds it). */
function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

it('a SIGHUP during start-up is logged and ignored: the start goes on, and a SIGTERM then stops it with 0', async () => {
  const { proc } = await startingOnSilentRedis();
  proc.child.kill('SIGHUP');
  await proc.waitForLine(/"msg":"stickyport listening"/);
  const ignored = proc.stdout.map((line) => JSON.parse(line) as { level: number; msg: string; signal?: string }).find((line) => line.signal === 'SIGHUP');
  expect(ignored).toMatchObject({ level: 30, msg: expect.stringMatching(/ignored/) });
  // Before "listening": it was seen during start-up, not once running.
  const order = messages(proc);
  expect(order.indexOf(ignored!.msg)).toBeLessThan(order.indexOf('stickyport listening'));
  expect(await proc.stop('SIGTERM')).toBe(0);
}, 20_000);

it.each(['SIGTERM', 'SIGINT'] as const)('a %s during start-up stops it cleanly: exit 0, never listening, its ports free', async (signal) => {
  const { proc, start } = await startingOnSilentRedis();
  proc.child.kill(signal);
  expect(await proc.exited).toBe(0);
  const said = messages(proc);
  expect(said).toContain('stopping');
  expect(said).toContain('stopped');
  expect(said).not.toContain('stickyport listening');
  expect(await bindable(start)).toBe(true);
  expect(await bindable(start + 1)).toBe(true);
}, 20_000);

// SIGINT then SIGTERM ran the stop twice ("stopping", then "stopped" and exit twice): each
// signal had its own once-handler. The README promises that a second stop request, of either
// kind, meets node's default action: the process ends at once, by that signal.
it.each([
  ['SIGINT', 'SIGTERM'],
  ['SIGTERM', 'SIGINT'],
  ['SIGTERM', 'SIGTERM'],
] as const)('a %s then a %s: the second one ends the process at once, by its signal', async (first, second) => {
  const { proc } = await startingOnSilentRedis();
  const killedBy = new Promise<NodeJS.Signals | null>((resolve) => proc.child.once('exit', (_code, signal) => resolve(signal)));
  proc.child.kill(first);
  await proc.waitForLine(/"msg":"stopping"/);
  proc.child.kill(second);
  expect(await killedBy).toBe(second);
  expect(messages(proc).filter((msg) => msg === 'stopping')).toHaveLength(1);
}, 20_000);
