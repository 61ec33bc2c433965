import type { DestinationStream } from 'pino';
import { inert } from '../logging/quoted.js';

const LEVELS = new Map([[10, 'TRACE'], [20, 'DEBUG'], [30, 'INFO'], [40, 'WARN'], [50, 'ERROR'], [60, 'FATAL']]);
const COLOURS = new Map([[40, 33], [50, 31], [60, 31]]);
/** Bindings every line carries: the time and level lead the line, the rest says nothing here. */
const OMITTED = new Set(['level', 'time', 'pid', 'hostname', 'name', 'msg']);

export type LogRecord = Record<string, unknown> & { readonly level?: number; readonly msg?: string };

function show(value: unknown): string {
  if (typeof value === 'string') return inert(/^[^\s"=]+$/.test(value) ? value : JSON.stringify(value));
  if (typeof value === 'object' && value !== null && 'message' in value) return inert(JSON.stringify((value as Error).message));
  return inert(JSON.stringify(value) ?? String(value));
}

function size(bytes: unknown): string {
  const n = Number(bytes);
  if (n < 1024) return `${n} B`;
  return n < 1024 * 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

/** The request log's line, as an access log reads: `10201 GET host/path 200 OK 1.2 KiB 35 ms session=abc`. */
function requestLine(record: LogRecord): string {
  const what = record.kind === 'http' || record.kind === 'connect' || record.kind === undefined ? String(record.method) : `${String(record.method)} (${String(record.kind)})`;
  const parts = [
    String(record.port),
    what,
    `${String(record.host)}${record.path === undefined ? '' : String(record.path)}`,
    String(record.status),
    String(record.outcome),
    `${size(record.bytesDown)} down`,
    `${size(record.bytesUp)} up`,
    `${String(record.durationMs)} ms`,
  ];
  if (record.upstreamMs !== undefined) parts.push(`(upstream ${String(record.upstreamMs)} ms)`);
  if (record.sessionId !== undefined) parts.push(`session=${String(record.sessionId)}`);
  return parts.join(' ');
}

/** One pino record as a line for a person: `12:03:04 WARN  msg key=value ...`. */
export function formatRecord(record: LogRecord, colours = false): string {
  const level = record.level ?? 30;
  const time = new Date(typeof record.time === 'number' ? record.time : Date.now()).toTimeString().slice(0, 8);
  let label = (LEVELS.get(level) ?? String(level)).padEnd(5);
  const colour = COLOURS.get(level);
  if (colours && colour) label = `\x1b[${colour}m${label}\x1b[39m`;
  if (record.msg === 'request completed' && record.component === 'requests') return `${time} ${label} ${inert(requestLine(record))}`;
  const fields = Object.entries(record)
    .filter(([key]) => !OMITTED.has(key))
    .map(([key, value]) => `${key}=${show(value)}`);
  return [time, label, inert(record.msg ?? ''), ...fields].join(' ').trimEnd();
}

/**
 * A pino destination for a terminal: each JSON line, already redacted by pino, written as a
 * line of text. `hide` drops records that something else says better (the start-up banner).
 * Used only when stdout is a TTY; anywhere else stickyport logs JSON.
 */
export function terminalDestination(
  out: NodeJS.WritableStream & { hasColors?: () => boolean },
  hide: (record: LogRecord) => boolean = () => false,
): DestinationStream {
  const colours = out.hasColors?.() ?? false;
  const writeLine = (line: string): void => {
    let record: LogRecord;
    try {
      record = JSON.parse(line) as LogRecord;
    } catch {
      out.write(`${line}\n`);
      return;
    }
    if (!hide(record)) out.write(`${formatRecord(record, colours)}\n`);
  };
  return {
    // One line from pino, or several at once from the request log's batches.
    write(chunk: string) {
      for (const line of chunk.split('\n')) if (line !== '') writeLine(line);
    },
  };
}
