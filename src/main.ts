#!/usr/bin/env node
import { createApp, type App } from './app.js';
import { parseCommandLine, UsageError, type Command } from './cli/args.js';
import { startupBanner } from './cli/banner.js';
import { checkReport, configNotes, sessionPlaceholderNotes } from './cli/check.js';
import { helpText } from './cli/help.js';
import { terminalDestination } from './cli/terminal-log.js';
import { packageVersion } from './cli/version.js';
import { explainConfig, loadConfig, type ConfigReport, type LoadOptions } from './config/load.js';
import { ConfigError, StickyportError } from './errors.js';
import { createLogger, type Logger } from './logging/logger.js';

/**
 * Process entry: the only file that reads argv, handles signals and sets exit codes.
 * Exit codes: 0 clean stop (or a valid `check`), 1 start-up failure (e.g. a port already in
 * use), 2 bad configuration or command line.
 */

function exitWith(code: number, text: string): never {
  process.stderr.write(text);
  process.exit(code);
}

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

/**
 * SIGINT and SIGTERM stop stickyport, from the moment a port may be bound: a SIGTERM sent as
 * soon as the listening line is read must not meet node's default action. A second one does.
 */
function stopOnSignals(app: App, started: Promise<void>, log: Logger): void {
  const shutdown = (signal: NodeJS.Signals): void => {
    log.info({ signal }, 'stopping');
    // A start that fails ends the process itself, with exit code 1.
    started.then(async () => {
      try {
        await app.stop();
      } catch (error) {
        log.error({ err: error }, 'stop failed');
        process.exit(1);
      }
      log.info('stopped');
      process.exit(0);
    }, () => undefined);
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
  // SIGHUP re-reads the configuration (the reload logs what it did, or why it refused).
  process.on('SIGHUP', () => {
    started.then(() => app.reload('SIGHUP'), () => undefined).catch((error: unknown) => log.error({ err: error }, 'BUG: reload failed'));
  });
  // The last line of defence: every request path catches its own errors (and logs them with
  // the port as bugs), so reaching here is a bug too. One bad request must not take every
  // port down: log it and keep serving.
  process.on('uncaughtException', (error) => log.error({ err: error }, 'BUG: uncaught exception; still serving'));
  process.on('unhandledRejection', (reason) => log.error({ err: reason }, 'BUG: unhandled rejection; still serving'));
}

async function start(options: LoadOptions): Promise<void> {
  const { config } = configOrExit(options);
  // A person at a terminal gets text and a summary; anything else (a pipe, a file, a log
  // collector, `| npx pino-pretty`) gets pino's JSON lines.
  const terminal = process.stdout.isTTY === true;
  const log = createLogger(config.logLevel, terminal ? terminalDestination(process.stdout, saidByBanner) : undefined);
  for (const note of sessionPlaceholderNotes(config)) log.warn(note);
  // A reload reads the same layers again: the same files, environment and flags.
  const app = await createApp(config, { log, loadConfig: () => loadConfig(options) }).catch((error: unknown) => {
    // The store cannot be used at all (a session file another process holds): nothing was bound.
    if (!(error instanceof StickyportError)) throw error;
    if (!terminal) log.fatal({ code: error.code }, error.message);
    return exitWith(1, `stickyport: ${error.message}\n`);
  });
  const started = app.start();
  stopOnSignals(app, started, log);
  try {
    await started;
  } catch (error) {
    if (!(error instanceof StickyportError)) throw error;
    if (!terminal) log.fatal({ code: error.code }, error.message);
    await app.stop(0);
    exitWith(1, `stickyport: ${error.message}\n`);
  }
  if (terminal) process.stdout.write(startupBanner(config, packageVersion()));
}

async function main(): Promise<void> {
  const command = readCommandLine();
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
      await start({ configPath: command.configPath, flags: command.flags });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`stickyport: unexpected failure: ${(error as Error)?.stack ?? String(error)}\n`);
  process.exit(1);
});
