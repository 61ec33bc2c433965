import { failureCode, isFailure, type RequestRecord } from './request-record.js';

/** What one port has carried since start (or since it was added by a reload). */
export interface PortCounters {
  /** Plain requests and tunnels, finished. */
  requests: number;
  bytesUp: number;
  bytesDown: number;
  /** Failures: requests stickyport could not complete, and upstream 5xx answers. */
  errors: number;
  errorsByCode: Record<string, number>;
  lastError: { readonly code: string; readonly message: string | undefined; readonly at: number } | undefined;
  /** ms since the epoch; 0 = never used. */
  lastUse: number;
}

export interface Totals {
  requests: number;
  errors: number;
  bytesUp: number;
  bytesDown: number;
}

/**
 * Per-port statistics for the ports API and the status page, fed by the same records as the
 * request log. A port's entry is made on its first request: 10 000 idle ports cost nothing.
 */
export class PortStats {
  private readonly byPort = new Map<number, PortCounters>();
  readonly totals: Totals = { requests: 0, errors: 0, bytesUp: 0, bytesDown: 0 };

  readonly observe = (record: RequestRecord): void => {
    let counters = this.byPort.get(record.port);
    if (!counters) {
      counters = { requests: 0, bytesUp: 0, bytesDown: 0, errors: 0, errorsByCode: {}, lastError: undefined, lastUse: 0 };
      this.byPort.set(record.port, counters);
    }
    counters.requests++;
    counters.bytesUp += record.bytesUp;
    counters.bytesDown += record.bytesDown;
    counters.lastUse = record.endedAt;
    const { totals } = this;
    totals.requests++;
    totals.bytesUp += record.bytesUp;
    totals.bytesDown += record.bytesDown;
    if (isFailure(record)) {
      const code = failureCode(record);
      counters.errors++;
      counters.errorsByCode[code] = (counters.errorsByCode[code] ?? 0) + 1;
      counters.lastError = { code, message: record.message, at: record.endedAt };
      totals.errors++;
    }
  };

  get(port: number): Readonly<PortCounters> | undefined {
    return this.byPort.get(port);
  }

  /** A port a reload removed: its figures go with it. */
  forget(port: number): void {
    this.byPort.delete(port);
  }
}
