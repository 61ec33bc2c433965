import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { apiJson } from '../helpers/client.js';
import { freePortRange } from '../helpers/ports.js';

// stickyport on a terminal: util-linux `script` runs it on a pseudo-terminal, so that stdout is
// a TTY, and passes what the test writes to its stdin (Ctrl-C) through the terminal.

const MAIN = path.resolve(import.meta.dirname, '../../dist/main.js');
const hasScript = spawnSync('script', ['--version']).status === 0;
const VERSION = (JSON.parse(readFileSync(path.resolve(import.meta.dirname, '../../package.json'), 'utf8')) as { version: string }).version;

const shellQuote = (arg: string): string => `'${arg.replace(/'/g, `'\\''`)}'`;

interface OnTerminal {
  readonly child: ChildProcess;
  /** Everything written to the terminal so far, line ends as "\n". */
  output(): string;
  waitFor(pattern: RegExp): Promise<string>;
  readonly exited: Promise<number | null>;
}

const running: ChildProcess[] = [];
afterEach(() => {
  for (const child of running.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
});

function onTerminal(args: string[]): OnTerminal {
  // exec: the shell must not stay between, or Ctrl-C ends it too (exit code 130).
  const command = `exec ${[process.execPath, MAIN, ...args].map(shellQuote).join(' ')}`;
  const child = spawn('script', ['-qfec', command, '/dev/null'], {
    cwd: mkdtempSync(path.join(tmpdir(), 'stickyport-tty-')),
    env: { PATH: process.env.PATH, TERM: 'dumb' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  running.push(child);
  let text = '';
  const waiters: Array<() => void> = [];
  child.stdout!.on('data', (chunk: Buffer) => {
    text += chunk.toString().replace(/\r\n/g, '\n');
    for (const waiter of waiters.splice(0)) waiter();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const waitFor = (pattern: RegExp): Promise<string> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const match = pattern.exec(text);
        if (match) resolve(match[0]);
        else waiters.push(check);
      };
      check();
      void exited.then(() => setImmediate(() => reject(new Error(`exited before ${pattern}:\n${text}`))));
    });
  return { child, output: () => text, waitFor, exited };
}

describe.skipIf(!hasScript)('stickyport on a terminal', () => {
  it('prints the start-up summary instead of JSON, with a command that works, and stops on Ctrl-C', async () => {
    const first = await freePortRange(3);
    const tty = onTerminal([
      '--ports', `${first}-${first + 2}`,
      '--upstream', 'http://user-session-{session}:hunter2@127.0.0.1:9',
      '--session-api',
    ]);
    await tty.waitFor(/Ctrl-C stops it\.\n/);
    expect(tty.output()).toBe(
      [
        `stickyport ${VERSION} listening on 127.0.0.1, 3 ports: ${first}-${first + 2}`,
        '  upstream     http://user-session-{session}:***@127.0.0.1:9',
        '  store        memory (sessions end when stickyport stops)',
        '  session API  http://portmapper/session/ through any port',
        `  try          curl -x http://127.0.0.1:${first} http://portmapper/session/`,
        'Ctrl-C stops it.',
        '',
      ].join('\n'),
    );
    // The command it suggests, as curl would send it.
    const session = await apiJson<{ session_id: string }>(first, '/session/');
    await tty.waitFor(new RegExp(`INFO +session created .*${session.session_id}`));

    tty.child.stdin!.write('\x03');
    expect(await tty.exited).toBe(0);
    const output = tty.output();
    expect(output).toMatch(/\d\d:\d\d:\d\d INFO +stopping signal=SIGINT\n/);
    expect(output).toMatch(/INFO +stopped\n/);
    expect(output).not.toContain('{"level"');
    expect(output).not.toContain('hunter2');
  });

  it('says a busy port once, as text', async () => {
    const first = await freePortRange(2);
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(first + 1, '127.0.0.1', resolve));
    try {
      const tty = onTerminal(['--ports', `${first}-${first + 1}`]);
      expect(await tty.exited).toBe(1);
      expect(tty.output()).toBe(
        `stickyport: cannot listen on 127.0.0.1: port ${first + 1} (EADDRINUSE) is in use by another program. ` +
          `To see what holds it: ss -ltnp 'sport = :${first + 1}' (or lsof -nP -iTCP:${first + 1} -sTCP:LISTEN)\n`,
      );
    } finally {
      blocker.close();
    }
  });

  it('says a bad configuration once', async () => {
    const tty = onTerminal(['--ports', '10201', '--lifetime', '10 min']);
    expect(await tty.exited).toBe(2);
    expect(tty.output()).toBe(
      'stickyport: invalid configuration:\n' +
        '  Listen.StickyProxyLifetime = "10 min" (from flag --lifetime): must be a number of minutes, ' +
        'or a string with a unit: "90s", "10m", "2h", "1d" (0 = never expires)\n',
    );
  });
});
