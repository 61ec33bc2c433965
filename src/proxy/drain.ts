import type http from 'node:http';
import { StickyportError } from '../errors.js';
import type { Logger } from '../logging/logger.js';

/**
 * What stopping does to traffic in flight. From the start of the drain every answer carries
 * `Connection: close` and idle keep-alive connections are closed at once (the listeners have
 * already stopped accepting). When the drain time is over, a forwarded request still waiting
 * for its upstream gets a 503 instead of a bare close; everything else is then cut.
 */
export class Drain {
  active = false;
  private readonly waiting = new Set<http.ServerResponse>();

  constructor(
    private readonly server: http.Server,
    private readonly log: Logger,
  ) {}

  /** A forwarded request whose answer has not begun yet. */
  track(response: http.ServerResponse): void {
    this.waiting.add(response);
    if (this.active) response.shouldKeepAlive = false;
  }

  /** Its answer began, or it is over. */
  untrack(response: http.ServerResponse): void {
    this.waiting.delete(response);
  }

  begin(): void {
    this.active = true;
    for (const response of this.waiting) response.shouldKeepAlive = false;
    this.server.closeIdleConnections();
  }

  /** Answers 503 to what is still waiting; resolves once those answers are written (or 200 ms). */
  async end(): Promise<void> {
    const answers: Array<Promise<void>> = [];
    for (const response of this.waiting) {
      if (response.headersSent || response.destroyed) continue;
      const error = new StickyportError('STOPPING', 'stickyport is stopping: the upstream did not answer in time', { status: 503 });
      this.log.info({ code: error.code }, error.message);
      const body = `${error.message}\n`;
      response.shouldKeepAlive = false;
      response.writeHead(503, {
        'content-type': 'text/plain; charset=utf-8',
        'content-length': Buffer.byteLength(body),
        'x-stickyport-error': error.code,
      });
      answers.push(new Promise((resolve) => response.end(body, () => resolve())));
    }
    this.waiting.clear();
    if (answers.length === 0) return;
    await Promise.race([Promise.all(answers), new Promise((resolve) => setTimeout(resolve, 200).unref())]);
  }
}
