import type { Logger } from '../logging/logger.js';
import type { MappingOf } from './mappings.js';
import { isFailure, withoutQuery, type RequestRecord } from './request-record.js';

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
 */
export class RequestLog {
  private settings: RequestLogSettings;

  constructor(
    private readonly log: Logger,
    private readonly mappingOf: MappingOf,
    settings: RequestLogSettings,
  ) {
    this.settings = settings;
  }

  get current(): RequestLogSettings {
    return this.settings;
  }

  /** A reload may change what is logged. */
  configure(settings: RequestLogSettings): void {
    this.settings = settings;
  }

  readonly observe = (record: RequestRecord): void => {
    const { mode, urls } = this.settings;
    if (mode === false || (mode === 'errors' && !isFailure(record)) || !this.log.isLevelEnabled('info')) return;
    this.log.info(requestFields(record, this.mappingOf, urls), 'request completed');
  };
}
