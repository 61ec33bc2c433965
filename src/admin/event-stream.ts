import type http from 'node:http';
import { requestFields } from '../observe/request-log.js';
import type { RequestRecord } from '../observe/request-record.js';
import type { SessionChange } from '../session/session-service.js';
import type { AdminContext } from './admin-context.js';
import { EventSubscriber, MAX_UNSENT_BYTES, STALL_MS } from './event-subscriber.js';
import { summaryView } from './port-view.js';

// Requests reach a page in batches: a proxy serving 7 000 requests a second must not write
// 7 000 events a second to each open page. A batch keeps at most this many (the rest counted).
const FLUSH_MS = 250;
const MAX_BATCH = 100;
const SUMMARY_MS = 1_000;
const PING_MS = 15_000;
/**
 * Streams open at once: each holds one of the admin server's 64 connections for good, and open
 * pages (or a loop opening streams) must leave the rest to the probes, /metrics and the API.
 */
export const MAX_STREAMS = 32;

/**
 * Server-Sent Events for the status page (`GET /api/events`): `requests` (the live log, in
 * batches), `sessions` (ports whose session changed: the page reloads those rows) and `summary`
 * (totals, every second). Nothing is gathered while no page listens.
 */
export class EventStream {
  private readonly clients = new Set<EventSubscriber>();
  /** Clients dropped since start for not reading (event-subscriber.ts). */
  private droppedClients = 0;
  private batch: RequestRecord[] = [];
  private dropped = 0;
  private readonly changes = new Map<number, SessionChange>();
  private unsubscribe: (() => void) | undefined;
  private timers: NodeJS.Timeout[] = [];

  constructor(private readonly context: AdminContext) {
    context.onSessionChange((port, change) => {
      if (this.clients.size > 0) this.changes.set(port, change);
    });
  }

  /** Whether another stream may open now (MAX_STREAMS). */
  get full(): boolean {
    return this.clients.size >= MAX_STREAMS;
  }

  open(request: http.IncomingMessage, response: http.ServerResponse): void {
    response.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-accel-buffering': 'no',
    });
    response.flushHeaders();
    // No idle timeout: the stream is quiet by design between events. A client that stops
    // reading is dropped by its EventSubscriber instead.
    request.socket.setTimeout(0);
    request.socket.setNoDelay(true);
    const remote = request.socket.remoteAddress;
    const client = new EventSubscriber(response, (unsentBytes, reason) => {
      this.droppedClients++;
      this.context.log.warn(
        { remote, unsentBytes, reason, maxUnsentBytes: MAX_UNSENT_BYTES, stallMs: STALL_MS, droppedClients: this.droppedClients },
        'event stream client dropped: it does not read what it is sent',
      );
    });
    const recent = this.context.live.recent().slice(-MAX_BATCH);
    client.write(frame('summary', summaryView(this.context)));
    client.write(frame('requests', { requests: recent.map((record) => this.fields(record)), dropped: 0 }));
    this.clients.add(client);
    response.once('close', () => {
      this.clients.delete(client);
      if (this.clients.size === 0) this.idle();
    });
    if (this.clients.size === 1) this.listen();
  }

  /** Ends every stream (the admin server stops). */
  close(): void {
    for (const client of this.clients) client.end();
    this.clients.clear();
    this.idle();
  }

  private listen(): void {
    this.unsubscribe = this.context.live.subscribe((record) => {
      if (this.batch.length < MAX_BATCH) this.batch.push(record);
      else this.dropped++;
    });
    const every = (ms: number, work: () => void): void => {
      const timer = setInterval(work, ms);
      timer.unref();
      this.timers.push(timer);
    };
    every(FLUSH_MS, () => this.flush());
    every(SUMMARY_MS, () => this.broadcast('summary', summaryView(this.context)));
    every(PING_MS, () => {
      for (const client of this.clients) client.write(': ping\n\n');
    });
  }

  private idle(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
    this.batch = [];
    this.dropped = 0;
    this.changes.clear();
  }

  private flush(): void {
    if (this.batch.length > 0 || this.dropped > 0) {
      this.broadcast('requests', { requests: this.batch.map((record) => this.fields(record)), dropped: this.dropped });
      this.batch = [];
      this.dropped = 0;
    }
    if (this.changes.size > 0) {
      this.broadcast('sessions', { ports: [...this.changes].map(([port, change]) => ({ port, change })) });
      this.changes.clear();
    }
  }

  private fields(record: RequestRecord) {
    const { context } = this;
    const fields = requestFields(record, context.mappings.mappingOf, context.running().logging.requestUrls);
    return { at: new Date(record.endedAt).toISOString(), ...fields, host: clipped(fields.host), path: clipped(fields.path) };
  }

  private broadcast(event: string, data: unknown): void {
    const text = frame(event, data);
    for (const client of this.clients) client.write(text);
  }
}

/**
 * A client's host or path as the page shows it: at most MAX_TEXT characters, marked when cut. A
 * request head may hold a 16 KB path, and a batch of 100 such records made a 1.5 MB event, which
 * took every page's stream past MAX_UNSENT_BYTES at once: any proxy client could cut the
 * operators' live view. The request log keeps the whole text.
 */
const MAX_TEXT = 4 * 1024;
const CUT_MARK = '…';

function clipped(text: string | undefined): string | undefined {
  return text === undefined || text.length <= MAX_TEXT ? text : `${text.slice(0, MAX_TEXT)}${CUT_MARK}`;
}

function frame(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}
