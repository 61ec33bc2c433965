import { readFileSync } from 'node:fs';
import type { Logger } from '../logging/logger.js';

export interface LimitSettings {
  /** Listen.MaxConnectionsPerClient: 0 = none, 'auto' = from the open-file limit. */
  readonly perClient: number | 'auto';
  /** Listen.MaxConnectionsPerPort. */
  readonly perPort: number | 'auto';
  /** Listening sockets the process holds (one per port, the admin server's): their descriptors are not the clients'. */
  readonly listening?: number;
}

// A tunnel costs two descriptors (client and upstream). With these shares of the open-file
// limit, one client can never take more than half of them, nor one port more than all of its
// share, and the process keeps room for the other ports, the store and the log.
const AUTO_PER_CLIENT_SHARE = 1 / 4;
const AUTO_PER_PORT_SHARE = 1 / 3;
const AUTO_MINIMUM = 64;
// Descriptors kept for the process's own work whatever the clients hold: the store's saves and
// its Redis connection, the log, the admin server, DNS, pooled upstream connections.
const RESERVED_DESCRIPTORS = 128;
// How long refusals are summed up before the next log line: one line per burst, not per refusal.
const REFUSAL_LOG_MS = 10_000;

/** The soft RLIMIT_NOFILE of this process, from /proc (Linux), or undefined. */
export function openFileLimit(): number | undefined {
  try {
    const line = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return line && line[1] !== 'unlimited' ? Number(line[1]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * All client connections together: each may cost two descriptors (a tunnel, or a request and its
 * upstream connection), after the listening sockets and the reserve. Several client addresses
 * within their own shares could otherwise take every descriptor together: upstream connections
 * then failed with EMFILE, accepted connections were reset, and a file store could not save.
 */
function totalFor(fileLimit: number | undefined, listening: number): number {
  if (fileLimit === undefined) return 0;
  return Math.max(AUTO_MINIMUM, Math.floor((fileLimit - listening - RESERVED_DESCRIPTORS) / 2));
}

function resolve(value: number | 'auto', share: number, fileLimit: number | undefined): number {
  if (value !== 'auto') return value;
  return fileLimit === undefined ? 0 : Math.max(AUTO_MINIMUM, Math.floor(fileLimit * share));
}

/**
 * Counts open client connections per client address, per port and all together, and refuses
 * those over a limit, so that one client cannot take every file descriptor and starve the other
 * ports, nor several clients together leave the process none (the total follows the ports
 * listening).
 * Refusals are counted and logged once per burst.
 */
export class ConnectionLimits {
  readonly perClient: number;
  readonly perPort: number;
  private totalCap: number;
  private listening: number;
  private open = 0;
  private readonly byClient = new Map<string, number>();
  private readonly byPort = new Map<number, number>();
  private refusedTotal = 0;
  private refusedUnlogged = 0;
  private logTimer: NodeJS.Timeout | undefined;

  constructor(
    settings: LimitSettings,
    private readonly log: Logger,
    private readonly fileLimit = openFileLimit(),
  ) {
    this.perClient = resolve(settings.perClient, AUTO_PER_CLIENT_SHARE, fileLimit);
    this.perPort = resolve(settings.perPort, AUTO_PER_PORT_SHARE, fileLimit);
    this.listening = settings.listening ?? 0;
    this.totalCap = totalFor(fileLimit, this.listening);
  }

  /** All client connections together (0: no open-file limit known). */
  get total(): number {
    return this.totalCap;
  }

  /**
   * Ports bound or closed by a reload: each listening socket holds a descriptor the clients
   * cannot have. Connections already open above a lowered cap stay; new ones wait for room.
   */
  listeningChanged(delta: number): void {
    if (delta === 0) return;
    this.listening += delta;
    this.totalCap = totalFor(this.fileLimit, this.listening);
    if (this.totalCap > 0) this.log.info({ maxConnections: this.totalCap }, 'client connections together: the cap follows the ports now listening');
  }

  /** Connections refused since start. */
  get refused(): number {
    return this.refusedTotal;
  }

  /** Takes a slot for a new connection, or returns why it must be refused. */
  admit(client: string, port: number): string | undefined {
    const fromClient = this.byClient.get(client) ?? 0;
    const onPort = this.byPort.get(port) ?? 0;
    const over =
      this.perClient > 0 && fromClient >= this.perClient
        ? `client ${client} holds ${fromClient} connections (Listen.MaxConnectionsPerClient)`
        : this.perPort > 0 && onPort >= this.perPort
          ? `port ${port} holds ${onPort} connections (Listen.MaxConnectionsPerPort)`
          : this.total > 0 && this.open >= this.total
            ? `${this.open} client connections are open: the open-file limit (ulimit -n) leaves room for no more`
            : undefined;
    if (over) {
      this.refusedOne(over);
      return over;
    }
    this.byClient.set(client, fromClient + 1);
    this.byPort.set(port, onPort + 1);
    this.open++;
    return undefined;
  }

  release(client: string, port: number): void {
    this.open--;
    const fromClient = (this.byClient.get(client) ?? 1) - 1;
    if (fromClient > 0) this.byClient.set(client, fromClient);
    else this.byClient.delete(client);
    const onPort = (this.byPort.get(port) ?? 1) - 1;
    if (onPort > 0) this.byPort.set(port, onPort);
    else this.byPort.delete(port);
  }

  close(): void {
    clearTimeout(this.logTimer);
  }

  private refusedOne(reason: string): void {
    this.refusedTotal++;
    if (this.logTimer) {
      this.refusedUnlogged++;
      return;
    }
    this.log.warn({ refusedTotal: this.refusedTotal }, `connection refused: ${reason}`);
    this.logTimer = setTimeout(() => {
      this.logTimer = undefined;
      if (this.refusedUnlogged > 0) {
        this.log.warn({ refused: this.refusedUnlogged, refusedTotal: this.refusedTotal }, 'more connections refused at the limits');
      }
      this.refusedUnlogged = 0;
    }, REFUSAL_LOG_MS);
    this.logTimer.unref();
  }
}
