import { ConfigError } from '../errors.js';
import { inert } from '../logging/quoted.js';

/**
 * One thing wrong with the configuration, said so that a new user can fix it: the key, the
 * value as it may be shown (masked for secrets), the layer that set it and what would be
 * accepted.
 */
export interface ConfigProblem {
  /** Dotted key name, e.g. `Listen.PortRange.Start`. */
  readonly key: string;
  /** What is wrong and what would be accepted: "must be an integer 1-65535". */
  readonly text: string;
  /** `default`, a file path, `environment variable STICKYPORT_X`, `--config FILE` or `flag --ports`. */
  readonly origin?: string;
  /** The value, already masked, or undefined when it is better not shown (an unknown key's). */
  readonly shown?: string;
}

export function describeProblem(problem: ConfigProblem): string {
  const value = problem.shown === undefined ? '' : ` = ${problem.shown}`;
  const origin = problem.origin === undefined ? '' : ` (from ${inert(problem.origin)})`;
  // A key may be the user's own text (an unknown key, a parameter's name), and an origin a
  // file's path: their control characters are written out, as a value's are, so a terminal never
  // acts on them (a path holding a newline would show a problem line of its own).
  return `${inert(shortKey(problem.key))}${value}${origin}: ${problem.text}`;
}

/** A key is at most this long in a message, as a value is at most 80 characters: an unknown key may be a megabyte. */
const KEY_SHOWN = 200;

function shortKey(key: string): string {
  if (key.length <= KEY_SHOWN) return key;
  // Not between the two halves of a character outside the BMP (an emoji): half of one is no text.
  const high = key.charCodeAt(KEY_SHOWN - 1);
  const cut = high >= 0xd800 && high <= 0xdbff ? KEY_SHOWN - 1 : KEY_SHOWN;
  return `${key.slice(0, cut)}… (${key.length} characters)`;
}

/** One error for all the problems, so that a user fixes them in one round. */
export function configErrorFor(problems: readonly ConfigProblem[]): ConfigError {
  const lines = problems.map((problem) => `  ${describeProblem(problem)}`);
  return new ConfigError(
    `invalid configuration:\n${lines.join('\n')}`,
    [...new Set(problems.map((problem) => problem.key))],
  );
}

/**
 * The known key a mistyped one most likely meant: the same letters in another case first
 * (`Listen.StickyProxyLifeTime`), then the nearest within 3 edits, then the same last name
 * under another section (`Listen.IdLength` for `Session.IdLength`).
 */
export function nearestKey(unknown: string, known: readonly string[]): string | undefined {
  const lower = unknown.toLowerCase();
  const sameLetters = known.find((key) => key.toLowerCase() === lower);
  if (sameLetters) return sameLetters;
  let best: string | undefined;
  let bestDistance = 4;
  for (const key of known) {
    const distance = editDistance(lower, key.toLowerCase(), bestDistance);
    if (distance < bestDistance) [best, bestDistance] = [key, distance];
  }
  if (best) return best;
  const lastName = lower.slice(lower.lastIndexOf('.') + 1);
  return known.find((key) => key.includes('.') && key.toLowerCase().endsWith(`.${lastName}`));
}

/** Levenshtein distance, giving up (returning `limit`) once it cannot be below `limit`. */
function editDistance(a: string, b: string, limit: number): number {
  if (Math.abs(a.length - b.length) >= limit) return limit;
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min(substitution, previous[j]! + 1, current[j - 1]! + 1));
    }
    if (Math.min(...current) >= limit) return limit;
    previous = current;
  }
  return Math.min(previous[b.length]!, limit);
}
