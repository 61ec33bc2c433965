import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { freePort } from './ports.js';

function findOnPath(command: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const candidate = path.join(dir || '.', command);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this folder
    }
  }
  return undefined;
}

export const redisServerPath = findOnPath('redis-server');
/** Whether the Redis tests can run here. In CI (CI=true) they must: a missing server fails them. */
export const redisAvailable = redisServerPath !== undefined;

const MISSING =
  'redis-server is not on PATH, and CI=true requires the Redis tests to run: ' +
  'install it (sudo apt-get install -y redis-server)';

function checkName(name: string): void {
  // The summary reporter finds skipped Redis tests by name.
  if (!/redis/i.test(name)) throw new Error(`a Redis test's name must contain "Redis": ${name}`);
}

/** `describe` that runs when redis-server exists, fails in CI when it does not, and skips otherwise. */
export function describeRedis(name: string, body: () => void): void {
  checkName(name);
  if (redisAvailable) describe(name, body);
  else if (process.env.CI === 'true') describe(name, () => it('needs redis-server (Redis)', () => failMissing()));
  else describe.skip(name, body);
}

/** The same for one test. */
export function itRedis(name: string, body: () => Promise<void> | void, timeout?: number): void {
  checkName(name);
  if (redisAvailable) it(name, body, timeout);
  else if (process.env.CI === 'true') it(name, () => failMissing());
  else it.skip(name, body);
}

function failMissing(): never {
  throw new Error(MISSING);
}

export interface RedisServer {
  readonly port: number;
  /** redis://127.0.0.1:<port> */
  readonly url: string;
  /** SIGKILL, as a crash would; resolves once the process is gone. */
  kill(): Promise<void>;
  /** Starts the server again on the same port (after `kill`): empty, or with what a SAVE last wrote. */
  restart(): Promise<void>;
  /** SIGSTOP / SIGCONT: a server that keeps its connections but answers nothing. */
  freeze(): void;
  thaw(): void;
  stop(): Promise<void>;
}

/** A real redis-server on a free 127.0.0.1 port, no persistence, ready to accept connections. */
export async function startRedisServer(): Promise<RedisServer> {
  if (!redisServerPath) failMissing();
  const dir = mkdtempSync(path.join(tmpdir(), 'stickyport-redis-'));
  let port = 0;
  let child: ChildProcess | undefined;
  for (let attempt = 1; !child; attempt++) {
    port = await freePort();
    // Another process may take the free port before redis-server binds it: try another one.
    child = await spawnRedis(redisServerPath, port, dir).catch((error: Error) => {
      if (attempt >= 5) throw error;
      return undefined;
    });
  }
  const exited = (process: ChildProcess): Promise<void> =>
    process.exitCode !== null || process.signalCode !== null ? Promise.resolve() : new Promise((resolve) => process.once('exit', () => resolve()));
  const server: RedisServer = {
    port,
    url: `redis://127.0.0.1:${port}`,
    async kill() {
      child!.kill('SIGKILL');
      await exited(child!);
    },
    async restart() {
      child = await spawnRedis(redisServerPath, port, dir);
    },
    freeze: () => void child!.kill('SIGSTOP'),
    thaw: () => void child!.kill('SIGCONT'),
    async stop() {
      child!.kill('SIGCONT');
      child!.kill('SIGTERM');
      await exited(child!);
    },
  };
  return server;
}

/** Spawns redis-server and resolves once it logs that it accepts connections. */
function spawnRedis(binary: string, port: number, dir: string): Promise<ChildProcess> {
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--dir', dir];
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  // Never leave a server behind if the test process ends early.
  const reap = (): void => void child.kill('SIGKILL');
  process.once('exit', reap);
  child.once('exit', () => process.off('exit', reap));
  return new Promise((resolve, reject) => {
    // Read the output for as long as the server runs: a full pipe would block its logging.
    let output = '';
    let ready = false;
    const timer = setTimeout(() => fail(new Error(`redis-server on port ${port} not ready after 10 s:\n${output}`)), 10_000);
    const fail = (error: Error): void => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(error);
    };
    child.stdout!.on('data', (chunk: Buffer) => {
      if (ready) return;
      output += chunk.toString();
      if (output.includes('Ready to accept connections')) {
        ready = true;
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.stderr!.on('data', (chunk: Buffer) => void (ready || (output += chunk.toString())));
    child.once('exit', (code) => ready || fail(new Error(`redis-server on port ${port} exited (${code}) before it was ready:\n${output}`)));
    child.once('error', fail);
  });
}

/**
 * One redis-server for the enclosing describe block, and a plain client on it for looking
 * behind the store's back. Both exist from beforeAll on and are stopped in afterAll.
 */
export function redisForSuite(): { readonly server: RedisServer; readonly raw: Redis } {
  let server: RedisServer | undefined;
  let raw: Redis | undefined;
  beforeAll(async () => {
    server = await startRedisServer();
    raw = new Redis(server.url);
  });
  afterAll(async () => {
    await raw?.quit();
    await server?.stop();
  });
  return {
    get server() {
      return server!;
    },
    get raw() {
      return raw!;
    },
  };
}
