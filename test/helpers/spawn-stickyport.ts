import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const MAIN = path.resolve(import.meta.dirname, '../../dist/main.js');

export interface SpawnedStickyport {
  readonly child: ChildProcess;
  readonly stdout: string[];
  readonly stderr: string[];
  /** Resolves with the first stdout line matching, rejects if the process exits first. */
  waitForLine(pattern: RegExp): Promise<string>;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export function writeConfig(settings: unknown): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'stickyport-proc-'));
  const file = path.join(dir, 'config.json');
  writeFileSync(file, JSON.stringify(settings));
  return file;
}

/**
 * Runs the built entry point, `node dist/main.js ARGS`, in an empty folder (no appsettings.json),
 * or in `cwd`. `fileLimit` runs it under that open-file limit (`ulimit -n`); `nodeArgs` go to
 * node before the entry.
 */
export function spawnStickyport(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  options: { fileLimit?: number; nodeArgs?: string[]; cwd?: string } = {},
): SpawnedStickyport {
  const cwd = options.cwd ?? mkdtempSync(path.join(tmpdir(), 'stickyport-cwd-'));
  const entry = [...(options.nodeArgs ?? []), MAIN, ...args];
  const [command, commandArgs] = options.fileLimit
    ? ['sh', ['-c', `ulimit -n ${options.fileLimit} && exec "$0" "$@"`, process.execPath, ...entry]]
    : [process.execPath, entry];
  const child = spawn(command, commandArgs as string[], {
    cwd,
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stdout: string[] = [];
  const stderr: string[] = [];
  const watchers: Array<{ pattern: RegExp; resolve: (line: string) => void }> = [];
  let buffered = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    const lines = buffered.split('\n');
    buffered = lines.pop()!;
    for (const line of lines) {
      stdout.push(line);
      for (const watcher of [...watchers]) {
        if (watcher.pattern.test(line)) {
          watchers.splice(watchers.indexOf(watcher), 1);
          watcher.resolve(line);
        }
      }
    }
  });
  child.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    stdout,
    stderr,
    exited,
    waitForLine: (pattern) =>
      new Promise((resolve, reject) => {
        const found = stdout.find((line) => pattern.test(line));
        if (found) return resolve(found);
        watchers.push({ pattern, resolve });
        void exited.then((code) =>
          reject(new Error(`stickyport exited (${code}) before logging ${pattern}: ${stderr.join('')}`)),
        );
      }),
    stop: (signal = 'SIGTERM') => {
      if (child.exitCode === null) child.kill(signal);
      return exited;
    },
  };
}
