#!/usr/bin/env node
import { createApp } from './app.js';
import { loadConfig } from './config/load.js';
import { ConfigError, StickyportError } from './errors.js';
import { createLogger } from './logging/logger.js';

/**
 * Process entry: the only file that reads argv, handles signals and sets exit codes.
 * Exit codes: 0 clean stop, 1 start-up failure (e.g. a port already in use), 2 bad configuration.
 */
const USAGE = 'usage: stickyport [--config FILE]\n';

function configPathFromArgs(args: string[]): string | undefined {
  let configPath: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--help' || arg === '-h') {
      process.stdout.write(USAGE);
      process.exit(0);
    } else if (arg === '--config' && args[i + 1] !== undefined) {
      configPath = args[++i];
    } else if (arg.startsWith('--config=')) {
      configPath = arg.slice('--config='.length);
    } else {
      process.stderr.write(`stickyport: unknown argument ${arg}\n${USAGE}`);
      process.exit(2);
    }
  }
  return configPath;
}

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig({ configPath: configPathFromArgs(process.argv.slice(2)) });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    // Once, as text for the person starting it: no logger exists yet, and a JSON line on stdout
    // beside the same text on stderr only said it twice.
    process.stderr.write(`stickyport: ${error.message}\n`);
    process.exit(2);
  }

  const log = createLogger(config.logLevel);
  if (config.upstream.template && !config.upstream.template.hasSessionPlaceholder) {
    log.warn('Upstream.Url has no {session} placeholder: every port shares one upstream identity');
  }
  const app = await createApp(config, { log });
  try {
    await app.start();
  } catch (error) {
    if (!(error instanceof StickyportError)) throw error;
    log.fatal({ code: error.code }, error.message);
    process.stderr.write(`stickyport: ${error.message}\n`);
    await app.stop(0);
    process.exit(1);
  }

  const shutdown = (signal: string): void => {
    log.info({ signal }, 'stopping');
    app.stop().then(
      () => {
        log.info('stopped');
        process.exit(0);
      },
      (error: unknown) => {
        log.error({ err: error }, 'stop failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
  // The last line of defence: every request path catches its own errors (and logs them with
  // the port as bugs), so reaching here is a bug too. One bad request must not take every
  // port down: log it and keep serving.
  process.on('uncaughtException', (error) => log.error({ err: error }, 'BUG: uncaught exception; still serving'));
  process.on('unhandledRejection', (reason) => log.error({ err: reason }, 'BUG: unhandled rejection; still serving'));
}

main().catch((error: unknown) => {
  process.stderr.write(`stickyport: unexpected failure: ${(error as Error)?.stack ?? String(error)}\n`);
  process.exit(1);
});
