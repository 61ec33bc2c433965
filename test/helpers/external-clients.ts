import { execFile, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { describe, it } from 'vitest';

// Real SOCKS clients run as their own processes (curl, python requests, Chromium). Each test
// that needs one runs where it is installed, fails under CI=true where it is missing (CI must
// install it: see .ci/run), and elsewhere is skipped with a line that says what to install.

/** No *_proxy variable of the caller may redirect a client: only PATH and a throw-away HOME. */
const CLEAN_ENV = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: tmpdir(), LANG: 'C.UTF-8' };

export interface Ran {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command to its end (killed after `timeoutMs`), with the clean environment. */
export function run(command: string, args: string[], timeoutMs = 20_000): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(command, args, { env: CLEAN_ENV, timeout: timeoutMs, maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

function works(command: string, args: string[]): boolean {
  try {
    return spawnSync(command, args, { env: CLEAN_ENV, stdio: 'ignore', timeout: 20_000 }).status === 0;
  } catch {
    return false;
  }
}

/** The Debian python, not a pyenv shim: python3-socks and python3-requests are Debian packages. */
export const DEBIAN_PYTHON = '/usr/bin/python3';
export const CHROMIUM = '/usr/bin/chromium';

export const clients = {
  curl: { available: works('curl', ['--version']), install: 'apt-get install -y curl' },
  pythonRequestsSocks: {
    available: existsSync(DEBIAN_PYTHON) && works(DEBIAN_PYTHON, ['-c', 'import socks, requests']),
    install: 'apt-get install -y python3-socks python3-requests',
  },
  chromium: { available: existsSync(CHROMIUM) && works(CHROMIUM, ['--version']), install: 'apt-get install -y chromium' },
} as const;

export type ClientName = keyof typeof clients;

/** `describe` that runs when `client` is installed, fails under CI=true when it is not, and is skipped loudly otherwise. */
export function describeWith(client: ClientName, name: string, body: () => void): void {
  const { available, install } = clients[client];
  if (available) {
    describe(name, body);
    return;
  }
  if (process.env.CI === 'true') {
    describe(name, () => it(`needs ${client}`, () => {
      throw new Error(`${client} is missing and CI=true requires these tests to run: ${install}`);
    }));
    return;
  }
  process.stderr.write(`\nSKIPPED "${name}": ${client} is not installed here. Install it with: ${install}\n`);
  describe.skip(`${name} (skipped: ${client} missing; ${install})`, body);
}
