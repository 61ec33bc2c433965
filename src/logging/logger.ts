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

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      name: 'stickyport',
      level,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      base: { pid: process.pid },
    },
    destination,
  );
}
