import { CONTROL_CHARACTER } from '../logging/quoted.js';
import { regexFailure } from '../rules/host-pattern.js';
/**
 * The values a rotation rule's `When` is written with, read once at start-up: status lists
 * (`429`, `"5xx"`, `"500-504"`, or a list of them), CONNECT outcomes (statuses, `"refused"`,
 * `"timeout"`, `"reset"`), header values (text contained, or a regular expression between
 * slashes). The config formats judge values with the same readers the rules run with.
 */

/** Which statuses a rule takes, as a 600-entry table: one array read per answer. */
export type StatusTable = Uint8Array;

/** CONNECT outcomes that are not a status the upstream answered with. */
export const CONNECT_FAILURES = ['refused', 'timeout', 'reset'] as const;
export type ConnectFailure = (typeof CONNECT_FAILURES)[number];

const CLASS = /^([1-5])xx$/i;
const RANGE = /^(\d{3})\s*-\s*(\d{3})$/;

/** One status item as [first, last], or the reason it is not one. */
function statusItem(item: unknown): [number, number] | string {
  if (typeof item === 'number') {
    return Number.isInteger(item) && item >= 100 && item <= 599 ? [item, item] : `${JSON.stringify(item)} is not a status 100-599`;
  }
  if (typeof item !== 'string') return `${JSON.stringify(item)} is neither a status nor a string such as "5xx"`;
  const text = item.trim();
  const cls = CLASS.exec(text);
  if (cls) return [Number(cls[1]) * 100, Number(cls[1]) * 100 + 99];
  if (/^\d{3}$/.test(text)) return statusItem(Number(text));
  const range = RANGE.exec(text);
  if (range) {
    const [first, last] = [Number(range[1]), Number(range[2])];
    if (first >= 100 && last <= 599 && first <= last) return [first, last];
    return `"${text}" is not a range within 100-599, low to high`;
  }
  return `${JSON.stringify(item.slice(0, 40))} is not a status, a class such as "5xx" or a range such as "500-504"`;
}

function items(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [value];
}

/** What is wrong with a `Status` value, or undefined. */
export function statusListProblem(value: unknown, extra: readonly string[] = []): string | undefined {
  const list = items(value);
  if (list.length === 0) return 'must name at least one status';
  for (const item of list) {
    if (typeof item === 'string' && extra.includes(item.trim().toLowerCase())) continue;
    const read = statusItem(item);
    if (typeof read === 'string') {
      const others = extra.length > 0 ? `, or one of ${extra.map((word) => `"${word}"`).join(', ')}` : '';
      return `must be a status (429), a class ("5xx"), a range ("500-504")${others}, or a list of them: ${read}`;
    }
  }
  return undefined;
}

/** The table of a `Status` value the config already accepted. */
export function statusTable(value: unknown): StatusTable {
  const table = new Uint8Array(600);
  for (const item of items(value)) {
    const read = statusItem(item);
    if (typeof read === 'string') continue;
    table.fill(1, read[0], read[1] + 1);
  }
  return table;
}

/** A `ConnectStatus` value: its statuses, and the failures named by word. */
export function connectOutcomes(value: unknown): { statuses: StatusTable; failures: ReadonlySet<ConnectFailure> } {
  const failures = new Set<ConnectFailure>();
  const statuses: unknown[] = [];
  for (const item of items(value)) {
    const word = typeof item === 'string' ? item.trim().toLowerCase() : '';
    if ((CONNECT_FAILURES as readonly string[]).includes(word)) failures.add(word as ConnectFailure);
    else statuses.push(item);
  }
  return { statuses: statusTable(statuses), failures };
}

export type TextTest = (value: string) => boolean;

/**
 * A header value test: `/regex/` (flags after the closing slash allowed, `i` implied) is a
 * regular expression searched anywhere in the value; any other text is a case-insensitive
 * substring; undefined matches any value (the header is there).
 */
export function headerValueTest(value: string | undefined): TextTest {
  if (value === undefined) return () => true;
  const regex = slashed(value);
  if (regex) return (text) => regex.test(text);
  const wanted = value.toLowerCase();
  return (text) => text.toLowerCase().includes(wanted);
}

/** What is wrong with a header `Value`, or undefined. */
export function headerValueProblem(value: unknown): string | undefined {
  if (typeof value !== 'string' || value === '') return 'must be text the header value contains, or a regular expression between slashes';
  // No header value holds one (a regular expression writes a tab as \t).
  if (CONTROL_CHARACTER.test(value)) return 'must be text or a regular expression without control characters (U+0000-U+001F, U+007F): write \\t in a regular expression for a tab';
  if (value.startsWith('/') && value.lastIndexOf('/') > 0) {
    try {
      slashed(value);
    } catch (error) {
      return `is not a usable regular expression: ${regexFailure(error)}`;
    }
  }
  return undefined;
}

function slashed(value: string): RegExp | undefined {
  const end = value.lastIndexOf('/');
  if (!value.startsWith('/') || end <= 0) return undefined;
  const flags = value.slice(end + 1);
  if (!/^[imsu]*$/.test(flags)) return undefined;
  return new RegExp(value.slice(1, end), flags.includes('i') ? flags : `${flags}i`);
}
