import { isIP } from 'node:net';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
// A sign is read so that "-5m" is reported as negative rather than as unreadable.
const DURATION = /^\s*(-?\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/;

export const MINUTE_MS = 60_000;
export const SECOND_MS = 1_000;
export const DAY_MS = 86_400_000;
/** setTimeout fires at once for anything longer (and warns), so no timer may ask for more. */
export const MAX_TIMER_MS = 2 ** 31 - 1;
/** Beyond a year a lifetime is a typo, and far beyond it `Date` and store TTLs overflow. */
export const MAX_LIFETIME_MS = 365 * DAY_MS;

/**
 * Reads a duration: a bare number (or numeric string) is taken in `bareUnitMs`
 * (minutes for StickyProxyLifetime, as ProxyMapService has it; seconds for timeouts);
 * a string may carry its own unit: "250ms", "90s", "10m", "2h", "1d".
 * Returns milliseconds, unrounded and possibly negative or Infinity (the caller judges the
 * range), or undefined when the value cannot be read at all.
 */
export function readDuration(value: unknown, bareUnitMs: number): number | undefined {
  if (typeof value === 'number') return Number.isNaN(value) ? undefined : value * bareUnitMs;
  if (typeof value !== 'string') return undefined;
  const match = DURATION.exec(value);
  if (!match) return undefined;
  const unitMs = match[2] ? UNIT_MS[match[2]]! : bareUnitMs;
  return Number(match[1]) * unitMs;
}

/** {@link readDuration} in whole milliseconds, limited to finite, non-negative results. */
export function parseDuration(value: unknown, bareUnitMs: number): number | undefined {
  const ms = readDuration(value, bareUnitMs);
  return ms !== undefined && Number.isFinite(ms) && ms >= 0 ? Math.round(ms) : undefined;
}

export function isLoopbackHost(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1' || host === '0:0:0:0:0:0:0:1';
}
