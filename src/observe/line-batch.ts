import type { DestinationStream } from 'pino';

// A write every FLUSH_MS, or sooner once this much is waiting.
const MAX_PENDING = 32 * 1024;
const FLUSH_MS = 100;

/** Batches not closed yet: the process's exit writes what they hold. */
const waiting = new Set<LineBatch>();
let exitHooked = false;

/**
 * Gathers log lines and hands them to `destination` in one write every 100 ms (or 32 KiB).
 * The request log writes a line per request: a write system call each cost about as much CPU
 * as stickyport's own work on the request, and a batch of a few hundred costs one. A line waits
 * at most 100 ms; `flush` writes what waits at once (stop). A crash loses at most those 100 ms
 * of request lines.
 */
export class LineBatch implements DestinationStream {
  private pending = '';
  private scheduled = false;
  private closed = false;

  constructor(private readonly destination: DestinationStream) {
    waiting.add(this);
    if (waiting.size === 1 && !exitHooked) {
      exitHooked = true;
      process.once('exit', () => {
        for (const batch of waiting) batch.flush();
      });
    }
  }

  write(line: string): void {
    // Once closed (stickyport stopping), lines go out as they come: tunnels closing last.
    if (this.closed) return void this.destination.write(line);
    this.pending += line;
    if (this.pending.length >= MAX_PENDING) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      setTimeout(this.flushSoon, FLUSH_MS).unref();
    }
  }

  flush(): void {
    if (this.pending === '') return;
    const lines = this.pending;
    this.pending = '';
    this.destination.write(lines);
  }

  /** Writes what waits; from now on every line is written at once. */
  close(): void {
    this.closed = true;
    this.flush();
    waiting.delete(this);
  }

  private readonly flushSoon = (): void => {
    this.scheduled = false;
    this.flush();
  };
}
