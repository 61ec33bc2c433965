#!/usr/bin/env node
import type { EarlySignals } from './cli/run.js';

/**
 * Process entry, kept free of static imports on purpose: node's default action for SIGINT,
 * SIGTERM and SIGHUP ends the process at once, and loading the rest of the code takes about
 * 0.3 s. The signals that arrive meanwhile are only recorded here; cli/run.ts, which reads argv,
 * handles signals and sets exit codes, acts on them as on any signal during start-up.
 */
function recordSignals(): EarlySignals {
  let stop: NodeJS.Signals | undefined;
  let hups = 0;
  // Once, as run.ts's own handlers: a second stop signal, of either kind, meets node's default action.
  const onStop = (signal: NodeJS.Signals): void => {
    stop ??= signal;
    process.removeListener('SIGINT', onStop);
    process.removeListener('SIGTERM', onStop);
  };
  const onHup = (): void => {
    hups += 1;
  };
  process.once('SIGINT', onStop);
  process.once('SIGTERM', onStop);
  process.on('SIGHUP', onHup);
  return {
    get stop() {
      return stop;
    },
    get hups() {
      return hups;
    },
    release() {
      process.removeListener('SIGINT', onStop);
      process.removeListener('SIGTERM', onStop);
      process.removeListener('SIGHUP', onHup);
    },
  };
}

const early = recordSignals();
import('./cli/run.js').then(
  ({ run }) => run(early),
  (error: unknown) => {
    process.stderr.write(`stickyport: unexpected failure: ${(error as Error)?.stack ?? String(error)}\n`);
    process.exit(1);
  },
);
