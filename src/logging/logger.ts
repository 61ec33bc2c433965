import pino, { type DestinationStream, type Logger } from 'pino';

export type { Logger };

/**
 * Paths pino blanks out wherever they appear, as a second line of defence: stickyport never
 * puts a password into a log object on purpose (upstreams are logged through describeUpstream).
 */
const REDACT_PATHS = [
  'password',
  '*.password',
  'upstreamUrl',
  '*.upstreamUrl',
  'headers["proxy-authorization"]',
  '*.headers["proxy-authorization"]',
  'req.headers.authorization',
];

/** Every child of a root logger, so that a reload can change the level of all (pino copies it at birth). */
const families = new WeakMap<Logger, Array<WeakRef<Logger>>>();

/**
 * stdout, written synchronously: one writer, so lines never interleave (the request log's
 * batches share it), nothing waits in memory when the process dies, and a write costs less CPU
 * than sonic-boom's asynchronous mode, pino's default (measured: 2 against 4.5 µs a line).
 */
function stdoutDestination(): DestinationStream {
  return pino.destination({ dest: 1, sync: true });
}

export function createLogger(level: string, destination: DestinationStream = stdoutDestination()): Logger {
  const children: Array<WeakRef<Logger>> = [];
  const root = pino(
    {
      name: 'stickyport',
      level,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      base: { pid: process.pid },
      // Components take their child loggers once, at start: the list stays short.
      onChild: (child) => void children.push(new WeakRef(child)),
    },
    destination,
  );
  families.set(root, children);
  return root;
}

/** Where `root` writes: the request log writes its batches there too. */
export function destinationOf(root: Logger): DestinationStream {
  return (root as unknown as Record<symbol, DestinationStream>)[pino.symbols.streamSym]!;
}

/** Sets the level of `root` and of every logger made from it (Logging.Level on a reload). */
export function setLogLevel(root: Logger, level: string): void {
  root.level = level;
  for (const child of families.get(root) ?? []) {
    const logger = child.deref();
    if (logger) logger.level = level;
  }
}
