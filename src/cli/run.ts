import { createApp, type App } from '../app.js';
import { parseCommandLine, UsageError, type Command } from './args.js';
import { startupBanner } from './banner.js';
import { checkReport, configNotes, upstreamNotes } from './check.js';
import { helpText } from './help.js';
import { terminalDestination } from './terminal-log.js';
import { packageVersion } from './version.js';
import { explainConfig, reloadLoader, type ConfigReport, type LoadOptions } from '../config/load.js';
import { ConfigError, StickyportError } from '../errors.js';
import { createLogger, type Logger } from '../logging/logger.js';
import { inert } from '../logging/quoted.js';

/**
 * The process, once src/main.ts has loaded it: the only file that reads argv, handles signals
 * and sets exit codes. Exit codes: 0 clean stop (or a valid `check`), 1 start-up failure (e.g. a
 * port already in use) or a stop that could not save what the store had acknowledged, 2 bad
 * configuration or command line.
 */

/** The signals src/main.ts recorded while this code loaded, before any handler here existed. */
export interface EarlySignals {
  /** The first SIGINT or SIGTERM, if one came. */
  readonly stop: NodeJS.Signals | undefined;
  /** How many SIGHUPs came. */
  readonly hups: number;
  /** Removes main.ts's recording handlers (once handlers of this file's own are in place). */
  release(): void;
}

/** Thrown by exitWith to unwind whatever called it while its text is still being written. */
class Exiting extends Error {}

/**
 * Writes `text` to stderr and exits with `code` once it is out. On a pipe (systemd, Docker, CI,
 * `| less`) a write is asynchronous: process.exit() straight after it cut a long list of
 * configuration problems at the pipe's 64 KiB, mid-word.
 */
function exitWith(code: number, text: string): never {
  process.exitCode = code;
  const exit = (): never => process.exit(code);
  // A pipe nobody reads would hold the process for good: the text gets this long, and a stop
  // signal meanwhile ends the wait at once (main.ts's early recorder would swallow the first).
  // Both before the write: a reader may signal as soon as the first bytes reach it.
  setTimeout(exit, STDERR_WAIT_MS);
  process.once('SIGTERM', exit).once('SIGINT', exit);
  process.stderr.write(text, exit);
  throw new Exiting();
}

const STDERR_WAIT_MS = 5_000;

function readCommandLine(): Command {
  try {
    return parseCommandLine(process.argv.slice(2));
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    exitWith(2, `stickyport: ${error.message}\nRun stickyport --help to see every option.\n`);
  }
}

function configOrExit(options: LoadOptions): ConfigReport {
  try {
    return explainConfig(options);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    // Once, as text for the person starting it: no logger exists yet, and a JSON line on stdout
    // beside the same text on stderr only said it twice.
    exitWith(2, `stickyport: ${error.message}\n`);
  }
}

/** The listening log line says what the banner says: on a terminal only the banner is shown. */
const saidByBanner = (record: { msg?: string }): boolean => record.msg === 'stickyport listening';

/** What the signal handlers act on: the app once createApp returned it, and its start. */
interface Signals {
  /** The app exists; returns whether a stop was asked for meanwhile (the handlers then stop it, and it must not start). */
  created(app: App): boolean;
  starting(started: Promise<void>): void;
  readonly stopAsked: boolean;
}

/**
 * Signal handlers, installed before start-up awaits anything: node's default action for SIGINT,
 * SIGTERM and SIGHUP ends the process, and start-up can take seconds (a Redis that does not
 * answer). SIGINT and SIGTERM stop stickyport: during start-up once the step under way ends
 * (the store is open: it and its file lock are closed without binding a port; or the ports are
 * bound), exit 0 as any stop. A second one meets node's default action. SIGHUP re-reads the
 * configuration once listening; during start-up it is ignored and logged (the start applies
 * the configuration it read: a reload of it would have nothing to apply to yet).
 */
function handleSignals(log: Logger, early: EarlySignals): Signals {
  let app: App | undefined;
  let started: Promise<void> = Promise.resolve();
  let listening = false;
  let stopAsked = false;
  const stop = (target: App, after: Promise<void>): void => {
    // A start that fails ends the process itself, with exit code 1.
    after.then(async () => {
      try {
        await target.stop();
      } catch (error) {
        // What the store could not save (a file it cannot write, a Redis that is down): said
        // without a stack trace, which is for bugs; anything else is one, with its stack.
        log.error(error instanceof StickyportError ? { code: error.code, err: error.message } : { err: error }, 'stop failed');
        process.exit(1);
      }
      log.info('stopped');
      process.exit(0);
    }, () => undefined);
  };
  const shutdown = (signal: NodeJS.Signals): void => {
    // One stop: a second request of either kind (SIGINT after SIGTERM too) meets node's
    // default action and ends the process at once, instead of running the stop again.
    process.removeListener('SIGINT', shutdown);
    process.removeListener('SIGTERM', shutdown);
    log.info({ signal }, 'stopping');
    stopAsked = true;
    // Before createApp returned, created() stops it.
    if (app) stop(app, started);
  };
  const hup = (): void => {
    if (!listening || !app) {
      log.info({ signal: 'SIGHUP' }, 'SIGHUP during start-up ignored: the start applies the configuration it read; send it again once listening');
      return;
    }
    // The reload logs what it did, or why it refused.
    app.reload('SIGHUP').catch((error: unknown) => log.error({ err: error }, 'BUG: reload failed'));
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
  process.on('SIGHUP', hup);
  // Handed over with no moment without a handler; what came while the code loaded is acted on
  // now, and a stop signal already seen is spent (a second one meets node's default action).
  early.release();
  for (let i = 0; i < early.hups; i++) hup();
  if (early.stop) shutdown(early.stop);
  // The last line of defence: every request path catches its own errors (and logs them with
  // the port as bugs), so reaching here is a bug too. One bad request must not take every
  // port down: log it and keep serving.
  process.on('uncaughtException', (error) => log.error({ err: error }, 'BUG: uncaught exception; still serving'));
  process.on('unhandledRejection', (reason) => log.error({ err: reason }, 'BUG: unhandled rejection; still serving'));
  return {
    created(created) {
      app = created;
      if (stopAsked) stop(created, started);
      return stopAsked;
    },
    starting(start) {
      started = start;
      start.then(() => (listening = true), () => undefined);
    },
    get stopAsked() {
      return stopAsked;
    },
  };
}

async function start(options: LoadOptions, early: EarlySignals): Promise<void> {
  const { config } = configOrExit(options);
  // A person at a terminal gets text and a summary; anything else (a pipe, a file, a log
  // collector, `| npx pino-pretty`) gets pino's JSON lines.
  const terminal = process.stdout.isTTY === true;
  const log = createLogger(config.logLevel, terminal ? terminalDestination(process.stdout, saidByBanner) : undefined);
  const signals = handleSignals(log, early);
  for (const note of upstreamNotes(config)) log.warn(note);
  // A reload reads the same layers again: the same files, environment and flags; a file the
  // running configuration was read from must still be there.
  const app = await createApp(config, { log, loadConfig: reloadLoader(options) }).catch((error: unknown) => {
    // The store cannot be used at all (a session file another process holds): nothing was bound.
    if (!(error instanceof StickyportError)) throw error;
    if (!terminal) log.fatal({ code: error.code }, error.message);
    return exitWith(1, `stickyport: ${inert(error.message)}\n`);
  });
  // Stopped during start-up: the handlers close what createApp opened, and nothing is bound.
  if (signals.created(app)) return;
  const started = app.start();
  signals.starting(started);
  try {
    await started;
  } catch (error) {
    if (!(error instanceof StickyportError)) throw error;
    if (!terminal) log.fatal({ code: error.code }, error.message);
    await app.stop(0);
    exitWith(1, `stickyport: ${inert(error.message)}\n`);
  }
  if (terminal && !signals.stopAsked) process.stdout.write(startupBanner(config, packageVersion()));
}

/**
 * Runs the command line. Only `start` handles signals; the other commands leave them to node, and
 * one that came while the code loaded is raised again for node's default action.
 */
export function run(early: EarlySignals): void {
  main(early).catch((error: unknown) => {
    if (error instanceof Exiting) return;
    process.stderr.write(`stickyport: unexpected failure: ${(error as Error)?.stack ?? String(error)}\n`);
    process.exit(1);
  });
}

async function main(early: EarlySignals): Promise<void> {
  const command = readCommandLine();
  if (command.kind !== 'start') {
    early.release();
    const raised = early.stop ?? (early.hups > 0 ? 'SIGHUP' : undefined);
    if (raised) process.kill(process.pid, raised);
  }
  switch (command.kind) {
    case 'help':
      process.stdout.write(helpText(packageVersion()));
      return;
    case 'version':
      process.stdout.write(`${packageVersion()}\n`);
      return;
    case 'check': {
      const report = configOrExit({ configPath: command.configPath, flags: command.flags });
      process.stdout.write(checkReport(report, configNotes(report, process.env), packageVersion()));
      return;
    }
    case 'start':
      await start({ configPath: command.configPath, flags: command.flags }, early);
  }
}
