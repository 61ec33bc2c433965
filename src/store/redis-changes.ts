import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from '../logging/logger.js';

export type RemoteChangeListener = (port: number) => void;

/**
 * Session changes between instances sharing one Redis, over pub/sub on `<KeyPrefix>changes`:
 * after a replace or delete this instance publishes `{ instance, port }`, and a connection of
 * its own (a subscribed connection can run no other command) hears the others'. A notice only
 * makes another instance act at once (close what flows on the old identity): the store is
 * still read on every request, so a notice missed while Redis was away costs promptness only.
 */
export class RemoteChanges {
  /** Tells this instance's notices from the others'. */
  private readonly instance = randomBytes(8).toString('hex');
  private readonly listeners: RemoteChangeListener[] = [];
  private subscriber: Redis | undefined;
  private closed = false;

  constructor(
    private readonly client: Redis,
    private readonly channel: string,
    private readonly log: Logger,
  ) {}

  /** Tells the other instances that this one changed `port`'s session. Best effort, not awaited. */
  announce(port: number): void {
    this.client
      .publish(this.channel, JSON.stringify({ instance: this.instance, port }))
      .catch((error: Error) => this.log.debug({ err: error.message, port }, 'could not announce a session change'));
  }

  /** Calls `listener` with the port of every change another instance announces. */
  listen(listener: RemoteChangeListener): void {
    if (this.closed) return;
    this.listeners.push(listener);
    this.subscriber ??= this.subscribe();
  }

  close(): void {
    this.closed = true;
    this.subscriber?.disconnect();
  }

  private subscribe(): Redis {
    // Opened by the first listener: an instance nobody listens to needs no second connection.
    // No auto-resubscribe: every new connection (after an outage, a Redis restart) starts
    // unsubscribed, and 'ready' subscribes it, once per connection, whatever the last one did.
    // No command timeout: a SUBSCRIBE that timed out would not be sent again on the same
    // connection; one that never gets its answer fails when the connection does.
    const subscriber = this.client.duplicate({ autoResubscribe: false, commandTimeout: undefined });
    // Without an 'error' listener ioredis would crash the process; the store's own connection
    // already logs the outage, so this one stays quiet.
    subscriber.on('error', (error: Error) => this.log.debug({ err: error.message }, 'change subscriber: connection error'));
    subscriber.on('ready', () => {
      subscriber.subscribe(this.channel).catch((error: Error) => {
        // The connection went away meanwhile: the next 'ready' subscribes again.
        this.log.debug({ err: error.message }, 'change subscriber: could not subscribe');
      });
    });
    subscriber.on('message', (_channel: string, message: string) => this.receive(message));
    return subscriber;
  }

  private receive(message: string): void {
    if (this.closed) return;
    let notice: { instance?: unknown; port?: unknown };
    try {
      notice = JSON.parse(message) as typeof notice;
    } catch {
      return; // someone else's message on our channel
    }
    const { instance, port } = notice ?? {};
    if (instance === this.instance || typeof port !== 'number' || !Number.isInteger(port)) return;
    for (const listener of this.listeners) {
      try {
        listener(port);
      } catch (error) {
        // Thrown inside ioredis's reply handling, it would break the subscriber connection.
        this.log.error({ err: error, port }, 'a session change listener failed');
      }
    }
  }
}
