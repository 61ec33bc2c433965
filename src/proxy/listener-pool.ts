import net from 'node:net';
import { once } from 'node:events';
import { StickyportError } from '../errors.js';

/** The session id a client connection last carried traffic for, set by the port routes. */
const boundSession = Symbol('stickyport.boundSession');
/** The port whose listener accepted the connection: known here, so no getsockname() call. */
const acceptedOn = Symbol('stickyport.acceptedOn');
type TrackedSocket = net.Socket & { [boundSession]?: string; [acceptedOn]?: number };

/** The local port a client connection came in on. */
export function portOf(socket: net.Socket): number {
  return (socket as TrackedSocket)[acceptedOn] ?? socket.localPort ?? 0;
}

export interface ListenerPoolOptions {
  readonly host: string;
  readonly ports: readonly number[];
  readonly idleTimeoutMs: number;
  /** Receives every accepted connection (the proxy engine's HTTP server takes it from there). */
  readonly onConnection: (socket: net.Socket) => void;
}

export interface ListenerStatus {
  readonly port: number;
  readonly listening: boolean;
  readonly connections: number;
  readonly lastError?: string;
}

// Enough to bind 10 000 ports quickly without asking the kernel for all of them at once.
const BIND_BATCH = 512;

/**
 * One TCP listener per port of the range, all feeding one proxy engine. Keeps the open client
 * connections of each port, so that a session rotation can close exactly the ones that still
 * carry the old identity.
 */
export class ListenerPool {
  private readonly servers = new Map<number, net.Server>();
  private readonly connections = new Map<number, Set<TrackedSocket>>();
  private readonly lastErrors = new Map<number, string>();
  private stopping: Promise<void> | undefined;
  /** Set while stop() drains: called when the last connection closes. */
  private onIdle: (() => void) | undefined;

  constructor(private readonly options: ListenerPoolOptions) {}

  /** Binds every port, or none: if any port fails, the ones bound are closed and it throws. */
  async start(): Promise<void> {
    const failures: string[] = [];
    const { ports } = this.options;
    for (let i = 0; i < ports.length; i += BIND_BATCH) {
      const batch = ports.slice(i, i + BIND_BATCH);
      const results = await Promise.allSettled(batch.map((port) => this.listen(port)));
      results.forEach((result, index) => {
        if (result.status === 'rejected') {
          const port = batch[index]!;
          const code = (result.reason as NodeJS.ErrnoException).code ?? String(result.reason);
          this.lastErrors.set(port, code);
          failures.push(`${port} (${code})`);
        }
      });
      if (failures.length > 0) break;
    }
    if (failures.length > 0) {
      await this.closeServers();
      throw new StickyportError(
        'LISTEN_FAILED',
        `cannot listen on ${this.options.host}, port${failures.length > 1 ? 's' : ''} ${failures.join(', ')}`,
      );
    }
  }

  get size(): number {
    return this.servers.size;
  }

  /** Records which session a connection carries traffic for (see closeBoundTo). */
  bindSession(socket: net.Socket, sessionId: string): void {
    (socket as TrackedSocket)[boundSession] = sessionId;
  }

  /**
   * Closes the connections of `port` that carried traffic for `sessionId` (all of them when
   * it is undefined), except `keep`: the connection asking for the rotation.
   */
  closeBoundTo(port: number, sessionId: string | undefined, keep?: net.Socket): number {
    let closed = 0;
    for (const socket of this.connections.get(port) ?? []) {
      if (socket === keep) continue;
      if (sessionId !== undefined && socket[boundSession] !== sessionId) continue;
      socket.destroy();
      closed++;
    }
    return closed;
  }

  connectionCount(port?: number): number {
    if (port !== undefined) return this.connections.get(port)?.size ?? 0;
    let total = 0;
    for (const set of this.connections.values()) total += set.size;
    return total;
  }

  status(): ListenerStatus[] {
    return this.options.ports.map((port) => ({
      port,
      listening: this.servers.get(port)?.listening ?? false,
      connections: this.connectionCount(port),
      ...(this.lastErrors.has(port) ? { lastError: this.lastErrors.get(port) } : {}),
    }));
  }

  /**
   * Stops accepting at once, gives open connections `drainMs` to finish, then destroys the
   * rest. Safe to call twice: the second call waits for the first.
   */
  stop(drainMs: number): Promise<void> {
    this.stopping ??= this.drain(drainMs);
    return this.stopping;
  }

  private async drain(drainMs: number): Promise<void> {
    const closing = this.closeServers();
    if (this.connectionCount() > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, drainMs);
        timer.unref();
        this.onIdle = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.onIdle = undefined;
      for (const set of this.connections.values()) for (const socket of set) socket.destroy();
    }
    await closing;
  }

  private async listen(port: number): Promise<void> {
    const server = net.createServer({ noDelay: true }, (socket) => this.accept(port, socket));
    server.on('error', (error: NodeJS.ErrnoException) => this.lastErrors.set(port, error.code ?? error.message));
    server.listen({ host: this.options.host, port, exclusive: true });
    await once(server, 'listening');
    this.servers.set(port, server);
  }

  private accept(port: number, socket: TrackedSocket): void {
    socket[acceptedOn] = port;
    let set = this.connections.get(port);
    if (!set) {
      set = new Set();
      this.connections.set(port, set);
    }
    set.add(socket);
    socket.once('close', () => {
      set.delete(socket);
      if (this.onIdle && this.connectionCount() === 0) this.onIdle();
    });
    socket.setTimeout(this.options.idleTimeoutMs);
    this.options.onConnection(socket);
  }

  private async closeServers(): Promise<void> {
    const servers = [...this.servers.values()];
    this.servers.clear();
    await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
  }
}
