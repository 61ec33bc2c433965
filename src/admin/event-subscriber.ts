import type http from 'node:http';

/**
 * What may wait, unsent, for one client of the event stream. Events are made for every client
 * whether it reads or not: without a bound a client that stops reading (a frozen tab, a script
 * that only opened the stream) would hold everything sent since, in this process's memory.
 */
export const MAX_UNSENT_BYTES = 1024 * 1024;
/** How long a client may leave a refused write undrained, however little waits. */
export const STALL_MS = 30_000;

/**
 * One client of `GET /api/events`. A write never waits (a page that falls behind must not slow
 * the others), so a client that does not read is dropped instead: when more than
 * MAX_UNSENT_BYTES wait for it, or when a write it refused has not drained within STALL_MS.
 * Dropping closes its connection; a browser's EventSource then connects again by itself.
 */
export class EventSubscriber {
  private stall: NodeJS.Timeout | undefined;
  private dropped = false;

  constructor(
    private readonly response: http.ServerResponse,
    /** Called once, when the client is dropped, with what was waiting for it. */
    private readonly onDrop: (unsentBytes: number, reason: 'unsent' | 'stalled') => void,
    private readonly stallMs = STALL_MS,
  ) {
    response.once('close', () => this.clearStall());
  }

  write(text: string): void {
    if (this.dropped) return;
    // Judged on what waited before this event: an event the kernel cannot take in one go waits
    // in part however fast the client reads, and must not count against a client that reads.
    const waiting = this.response.writableLength;
    const accepted = this.response.write(text);
    if (waiting > MAX_UNSENT_BYTES) return this.drop('unsent');
    if (accepted || this.stall) return;
    this.stall = setTimeout(() => this.drop('stalled'), this.stallMs);
    this.stall.unref();
    this.response.once('drain', () => this.clearStall());
  }

  end(): void {
    this.clearStall();
    this.response.end();
  }

  private drop(reason: 'unsent' | 'stalled'): void {
    if (this.dropped) return;
    this.dropped = true;
    this.clearStall();
    this.onDrop(this.response.writableLength, reason);
    // destroy, not end: an end would queue behind what it does not read.
    this.response.destroy();
  }

  private clearStall(): void {
    clearTimeout(this.stall);
    this.stall = undefined;
  }
}
