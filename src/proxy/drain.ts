import type http from 'node:http';
import type net from 'node:net';
import { StickyportError } from '../errors.js';
import type { Logger } from '../logging/logger.js';

/**
 * An answer the drain may have to give, linked into its list while it waits. The links live on
 * the entry (a forwarded request's Exchange is one) rather than in a Set of responses: hashing
 * and rehashing a Set that every request enters and leaves cost about 8 % of a plain request's
 * CPU (bench/ab.mjs --together).
 */
export interface DrainEntry {
  readonly response: http.ServerResponse;
  drainPrev: DrainEntry | undefined;
  drainNext: DrainEntry | undefined;
  drainLinked: boolean;
}

/** An entry for a response that has none of its own (a session API answer). */
export function drainEntry(response: http.ServerResponse): DrainEntry {
  return { response, drainPrev: undefined, drainNext: undefined, drainLinked: false };
}

/** A tunnel still opening when the drain time is over: refused (503 STOPPING, a SOCKS failure reply). */
interface OpeningTunnel {
  readonly socket: net.Socket;
  refuse(error: StickyportError): void;
}

/**
 * What stopping does to traffic in flight. From the start of the drain every answer carries
 * `Connection: close` and idle keep-alive connections are closed at once (the listeners have
 * already stopped accepting). When the drain time is over, a forwarded request still waiting
 * for its upstream gets a 503 instead of a bare close, and so does a tunnel (HTTP CONNECT or
 * SOCKS) still waiting for its upstream side to open; everything else is then cut.
 */
export class Drain {
  active = false;
  private first: DrainEntry | undefined;
  // A Set, not a list through the entries as for requests: one add and delete per tunnel is
  // nothing beside the two connections a tunnel costs.
  private readonly opening = new Set<OpeningTunnel>();
  /** The HTTP servers whose idle keep-alive connections close when the drain begins. */
  private readonly servers: http.Server[];

  constructor(
    server: http.Server,
    private readonly log: Logger,
  ) {
    this.servers = [server];
  }

  /** One more server whose idle connections the drain closes (the session API's through SOCKS). */
  alsoFor(server: http.Server): void {
    this.servers.push(server);
  }

  /** A forwarded request whose answer has not begun yet (an entry already listed stays as it is). */
  track(entry: DrainEntry): void {
    if (this.active) entry.response.shouldKeepAlive = false;
    if (entry.drainLinked) return;
    entry.drainLinked = true;
    entry.drainPrev = undefined;
    entry.drainNext = this.first;
    if (this.first) this.first.drainPrev = entry;
    this.first = entry;
  }

  /**
   * Lists `response` while `answer` runs (a session API answer that may wait for the upstream).
   * Listed first: an answer written during the drain then says `Connection: close`.
   */
  async whileAnswering(response: http.ServerResponse, answer: () => Promise<void>): Promise<void> {
    const entry = drainEntry(response);
    this.track(entry);
    try {
      await answer();
    } finally {
      this.untrack(entry);
    }
  }

  /** Its answer began, or it is over. */
  untrack(entry: DrainEntry): void {
    if (!entry.drainLinked) return;
    entry.drainLinked = false;
    const { drainPrev, drainNext } = entry;
    if (drainPrev) drainPrev.drainNext = drainNext;
    else this.first = drainNext;
    if (drainNext) drainNext.drainPrev = drainPrev;
    entry.drainPrev = undefined;
    entry.drainNext = undefined;
  }

  begin(): void {
    this.active = true;
    for (let entry = this.first; entry; entry = entry.drainNext) entry.response.shouldKeepAlive = false;
    for (const server of this.servers) server.closeIdleConnections();
  }

  /**
   * `opening`, the upstream side of `socket`'s tunnel, as it settles; unless the drain ends
   * first: then it rejects with STOPPING (the caller answers it as any failure to open), and
   * the upstream side, should it open later, is closed by `discard`.
   */
  whileOpening<T>(socket: net.Socket, opening: Promise<T>, discard: (opened: T) => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let refused = false;
      const entry: OpeningTunnel = {
        socket,
        refuse: (error) => {
          refused = true;
          reject(error);
        },
      };
      this.opening.add(entry);
      opening.then(
        (opened) => {
          if (refused) return discard(opened);
          this.opening.delete(entry);
          resolve(opened);
        },
        (error: unknown) => {
          this.opening.delete(entry);
          reject(error);
        },
      );
    });
  }

  /** Answers 503 to what is still waiting; resolves once those answers are written (or 200 ms). */
  async end(): Promise<void> {
    const answers: Array<Promise<void>> = [];
    for (const entry of this.opening) {
      this.opening.delete(entry);
      if (entry.socket.destroyed) continue;
      // The refusal is written by the tunnel's own failure path, a few microtasks from now.
      answers.push(new Promise((resolve) => entry.socket.once('finish', () => resolve()).once('close', () => resolve())));
      entry.refuse(new StickyportError('STOPPING', 'stickyport is stopping: the upstream did not open the tunnel in time', { status: 503 }));
    }
    for (let entry = this.first; entry; entry = this.first) {
      this.untrack(entry);
      const { response } = entry;
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
    if (answers.length === 0) return;
    await Promise.race([Promise.all(answers), new Promise((resolve) => setTimeout(resolve, 200).unref())]);
  }
}
