import { isFailure, type RequestRecord } from './request-record.js';

export type LiveListener = (record: RequestRecord) => void;

// Under load the ring keeps one record per this many ms (and every failure): a page shows a
// few hundred lines a second at most, and records kept for long cost the garbage collector.
const KEEP_EVERY_MS = 5;

/**
 * The recent requests, for the status page's live log: a ring of the last `capacity` records
 * (a page that opens sees what just happened) and the listeners of the ones to come.
 */
export class LiveLog {
  private readonly ring: Array<RequestRecord | undefined>;
  private next = 0;
  private keptAt = 0;
  private readonly listeners = new Set<LiveListener>();

  constructor(private readonly capacity = 200) {
    this.ring = new Array<RequestRecord | undefined>(capacity);
  }

  readonly observe = (record: RequestRecord): void => {
    if (record.endedAt - this.keptAt >= KEEP_EVERY_MS || isFailure(record)) {
      this.keptAt = record.endedAt;
      this.ring[this.next] = record;
      this.next = (this.next + 1) % this.capacity;
    }
    if (this.listeners.size > 0) for (const listener of this.listeners) listener(record);
  };

  /** The kept records, oldest first. */
  recent(): RequestRecord[] {
    const older = this.ring.slice(this.next);
    const newer = this.ring.slice(0, this.next);
    return [...older, ...newer].filter((record): record is RequestRecord => record !== undefined);
  }

  subscribe(listener: LiveListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
