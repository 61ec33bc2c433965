import { destinationOf, type Logger } from '../logging/logger.js';
import { LineBatch } from './line-batch.js';
import type { MappingOf } from './mappings.js';
import { isFailure, withoutQuery, type Observe, type RequestRecord } from './request-record.js';
import { quoted } from '../logging/quoted.js';

export interface RequestLogSettings {
  /** Logging.Requests: every request, none, or failures only. */
  readonly mode: boolean | 'errors';
  /** Logging.RequestUrls: keep a path's query string. */
  readonly urls: boolean;
}

/** One decimal of a millisecond is all a log line needs. */
const ms = (value: number): number => Math.round(value * 10) / 10;

/** A record as the log and the status page show it: the mapping named, the query string gone unless asked for. */
export function requestFields(record: RequestRecord, mappingOf: MappingOf, urls: boolean) {
  return {
    port: record.port,
    mapping: mappingOf(record.port),
    sessionId: record.sessionId,
    kind: record.kind,
    method: record.method,
    host: record.host,
    path: record.path === undefined ? undefined : urls ? record.path : withoutQuery(record.path),
    status: record.status,
    outcome: record.outcome,
    bytesUp: record.bytesUp,
    bytesDown: record.bytesDown,
    durationMs: ms(record.durationMs),
    upstreamMs: record.upstreamMs === undefined ? undefined : ms(record.upstreamMs),
  };
}

/**
 * The request log: one `info` line per finished request or tunnel, with what an operator asks
 * first (which port, session and target, what came back, how big, how long, whose fault).
 * A path loses its query string (tokens, e-mail addresses) unless Logging.RequestUrls says so.
 *
 * A line per request is the one log line on stickyport's hot path, so it is made here rather
 * than by pino: the same JSON pino writes (level, time, pid, name, the fields, msg), built from
 * the record's fields alone, none of which can hold a secret (pino's redaction paths, a cost
 * per line, have nothing to find), and written beside the logger to its destination in
 * batches (LineBatch). The logger's level decides, as for any line.
 */
export class RequestLog {
  private settings: RequestLogSettings;
  private readonly batch: LineBatch;
  private readonly head: string;

  constructor(
    private readonly log: Logger,
    private readonly mappingOf: MappingOf,
    settings: RequestLogSettings,
  ) {
    this.settings = settings;
    this.batch = new LineBatch(destinationOf(log));
    this.head = `,"pid":${process.pid},"name":"stickyport","component":"requests"`;
  }

  get current(): RequestLogSettings {
    return this.settings;
  }

  /** A reload may change what is logged. */
  configure(settings: RequestLogSettings): void {
    this.settings = settings;
  }

  /** Stopping: writes the lines still waiting, and every later one (tunnels closing last) at once. */
  close(): void {
    this.batch.close();
  }

  readonly observe: Observe = Object.assign((record: RequestRecord): void => {
    const { mode, urls } = this.settings;
    if (mode === false || (mode === 'errors' && !isFailure(record)) || !this.log.isLevelEnabled('info')) return;
    // The fields of requestFields(), in its order, written straight into the line.
    let line = `{"level":30,"time":${record.endedAt}${this.head},"port":${record.port},"mapping":${JSON.stringify(this.mappingOf(record.port))}`;
    if (record.sessionId !== undefined) line += `,"sessionId":"${record.sessionId}"`;
    // What the client wrote, with DEL and C1 controls escaped as well (quoted()).
    line += `,"kind":"${record.kind}","method":${quoted(record.method)},"host":${quoted(record.host)}`;
    if (record.path !== undefined) line += `,"path":${quoted(urls ? record.path : withoutQuery(record.path))}`;
    line += `,"status":${record.status},"outcome":"${record.outcome}","bytesUp":${record.bytesUp},"bytesDown":${record.bytesDown},"durationMs":${ms(record.durationMs)}`;
    if (record.upstreamMs !== undefined) line += `,"upstreamMs":${ms(record.upstreamMs)}`;
    this.batch.write(`${line},"msg":"request completed"}\n`);
  }, {
    // A request starting while the log is off (or below its level) is not measured at all.
    wanted: (): boolean => this.settings.mode !== false && this.log.isLevelEnabled('info'),
  });
}
