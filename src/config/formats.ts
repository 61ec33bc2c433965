import { isIP } from 'node:net';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/;

/**
 * Parses a duration: a bare number (or numeric string) is taken in `bareUnitMs`
 * (minutes for StickyProxyLifetime, as ProxyMapService has it; seconds for timeouts);
 * a string may carry its own unit: "250ms", "90s", "10m", "2h", "1d".
 * Returns milliseconds, or undefined when the value cannot be read.
 */
export function parseDuration(value: unknown, bareUnitMs: number): number | undefined {
  if (typeof value === 'number') {
    return Number.isFinite(value) && value >= 0 ? Math.round(value * bareUnitMs) : undefined;
  }
  if (typeof value !== 'string') return undefined;
  const match = DURATION.exec(value);
  if (!match) return undefined;
  const unitMs = match[2] ? UNIT_MS[match[2]]! : bareUnitMs;
  return Math.round(Number(match[1]) * unitMs);
}

export const MINUTE_MS = 60_000;
export const SECOND_MS = 1_000;

export function isLoopbackHost(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1' || host === '0:0:0:0:0:0:0:1';
}
