import net from 'node:net';
import { StickyportError } from '../errors.js';
import type { ConnectionLimits } from './connection-limits.js';
import { isLingering } from './ordered-answers.js';

/** The port whose listener accepted the connection: known here, so no getsockname() call. */
const acceptedOn = Symbol('stickyport.acceptedOn');
type TrackedSocket = net.Socket & { [acceptedOn]?: number };

/** The local port a client connection came in on. */
export function portOf(socket: net.Socket): number {
  return (socket as TrackedSocket)[acceptedOn] ?? socket.localPort ?? 0;
}

/** Where one listener binds. A port appears once, whatever its host: sessions are kept per port. */
export interface ListenEndpoint {
  readonly host: string;
  readonly port: number;
}

export interface ListenerPoolOptions {
  /** Every port of every mapping, each with its mapping's host. */
  readonly endpoints: readonly ListenEndpoint[];
  readonly idleTimeoutMs: number;
  readonly limits: ConnectionLimits;
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

/** What each bind error means to the person starting stickyport. */
const MEANINGS: Readonly<Record<string, string>> = {
  EADDRINUSE: 'in use by another program',
  EACCES: 'not permitted: ports below 1024 need root or CAP_NET_BIND_SERVICE',
  EADDRNOTAVAIL: 'not available: the address is not one of this machine\'s (HOST_KEY)',
  ENOTFOUND: 'not available: the host is not a name this machine resolves (HOST_KEY)',
  EAI_AGAIN: 'not available: the host\'s name could not be resolved now (HOST_KEY)',
};
/** EADDRINUSE on a port this stickyport serves on another host (a reload moving it). */
const HELD_BY_US = 'held by this stickyport\'s own listener on its old host, whose address the new one overlaps: move such a port with a restart, or with two reloads (remove it, then add it)';
/** Pieces of a list of ports named before "and N more". */
const MAX_PIECES = 6;

/** `10201-10203, 10207`: consecutive ports joined into ranges. */
function portRanges(ports: readonly number[]): string[] {
  const pieces: string[] = [];
  for (let i = 0; i < ports.length; ) {
    let j = i;
    while (j + 1 < ports.length && ports[j + 1] === ports[j]! + 1) j++;
    pieces.push(i === j ? `${ports[i]}` : `${ports[i]}-${ports[j]}`);
    i = j + 1;
  }
  return pieces;
}

/**
 * LISTEN_FAILED's message, one line however many ports failed: the ports grouped into ranges
 * per error code, what the code means, and for ports in use a command that names the holder.
 * `untried` are the ports not attempted once a batch had failed; `hostKey` the setting that
 * names the host (the admin server's is Admin.Host).
 */
export function describeListenFailures(
  host: string,
  failures: ReadonlyMap<number, string>,
  { untried = [], ours = new Set(), hostKey = 'Listen.Host' }: { untried?: readonly number[]; ours?: ReadonlySet<number>; hostKey?: string } = {},
): string {
  const byCode = new Map<string, number[]>();
  const heldByUs: number[] = [];
  for (const [port, code] of [...failures].sort(([a], [b]) => a - b)) {
    if (code === 'EADDRINUSE' && ours.has(port)) heldByUs.push(port);
    else byCode.set(code, [...(byCode.get(code) ?? []), port]);
  }
  const part = (ports: number[], code: string, meaning: string | undefined): string => {
    const pieces = portRanges(ports);
    const shown = pieces.length > MAX_PIECES ? `${pieces.slice(0, MAX_PIECES).join(', ')} and ${pieces.length - MAX_PIECES} more ranges` : pieces.join(', ');
    return `port${ports.length > 1 ? 's' : ''} ${shown} (${code})${meaning ? ` ${ports.length > 1 ? 'are' : 'is'} ${meaning}` : ''}`;
  };
  const parts = [...byCode].map(([code, ports]) => part(ports, code, MEANINGS[code]?.replace('HOST_KEY', hostKey)));
  if (heldByUs.length > 0) parts.push(part(heldByUs, 'EADDRINUSE', HELD_BY_US));
  let text = `cannot listen on ${host}: ${parts.join('; ')}`;
  if (untried.length > 0) text += `; ${untried.length} more port${untried.length > 1 ? 's were' : ' was'} not tried`;
  const busy = byCode.get('EADDRINUSE');
  if (busy) {
    const [first] = busy;
    const last = busy.at(-1)!;
    const filter = first === last ? `sport = :${first}` : `sport >= :${first} and sport <= :${last}`;
    text += `. To see what holds ${first === last ? 'it' : 'them'}: ss -ltnp '${filter}' (or lsof -nP -iTCP:${first} -sTCP:LISTEN)`;
  }
  return text;
}

/** LISTEN_FAILED's message over several hosts: one part per host, in the order first met. */
function describeFailuresByHost(endpoints: readonly ListenEndpoint[], failures: ReadonlyMap<number, string>, untried: readonly ListenEndpoint[], served: readonly ListenEndpoint[] = []): string {
  const hosts = [...new Set(endpoints.map((endpoint) => endpoint.host))];
  const hostOf = new Map(endpoints.map((endpoint) => [endpoint.port, endpoint.host]));
  return hosts
    .flatMap((host) => {
      const failed = new Map([...failures].filter(([port]) => hostOf.get(port) === host));
      const notTried = untried.filter((endpoint) => endpoint.host === host).map((endpoint) => endpoint.port);
      // Ports this stickyport already serves on another host: its own listener is the holder.
      const ours = new Set(served.filter((endpoint) => endpoint.host !== host).map((endpoint) => endpoint.port));
      if (failed.size > 0) return [describeListenFailures(host, failed, { untried: notTried, ours })];
      return notTried.length > 0 ? [`on ${host}, ${notTried.length} more port${notTried.length > 1 ? 's were' : ' was'} not tried`] : [];
    })
    .join('; ');
}

/**
 * One TCP listener per port of every mapping, all feeding one proxy engine. Keeps the open
 * client connections of each port (for status, limits and the drain).
 */
export class ListenerPool {
  private readonly servers = new Map<number, net.Server>();
  private readonly connections = new Map<number, Set<TrackedSocket>>();
  private readonly lastErrors = new Map<number, string>();
  private stopping: Promise<void> | undefined;
  /** Set while stop() drains: called when the last connection closes. */
  private onIdle: (() => void) | undefined;
  /** The (host, port) pairs served: the configured ones, then what the last reconcile() made them. */
  private endpointList: readonly ListenEndpoint[];

  constructor(private readonly options: ListenerPoolOptions) {
    this.endpointList = options.endpoints;
  }

  /** Binds every port, or none: if any port fails, the ones bound are closed and it throws. */
  async start(): Promise<void> {
    const failures = new Map<number, string>();
    const { endpoints } = this.options;
    let tried = 0;
    for (let i = 0; i < endpoints.length; i += BIND_BATCH) {
      const batch = endpoints.slice(i, i + BIND_BATCH);
      const results = await Promise.allSettled(batch.map((endpoint) => this.listen(endpoint)));
      tried += batch.length;
      results.forEach((result, index) => {
        if (result.status === 'fulfilled') {
          this.servers.set(batch[index]!.port, result.value);
        } else {
          const { port } = batch[index]!;
          const code = (result.reason as NodeJS.ErrnoException).code ?? String(result.reason);
          this.lastErrors.set(port, code);
          failures.set(port, code);
        }
      });
      if (failures.size > 0) break;
    }
    if (failures.size > 0) {
      await this.closeServers();
      throw new StickyportError('LISTEN_FAILED', describeFailuresByHost(endpoints, failures, endpoints.slice(tried)));
    }
  }

  get size(): number {
    return this.servers.size;
  }

  connectionCount(port?: number): number {
    if (port !== undefined) return this.connections.get(port)?.size ?? 0;
    let total = 0;
    for (const set of this.connections.values()) total += set.size;
    return total;
  }

  status(): ListenerStatus[] {
    return this.endpointList.map(({ port }) => ({
      port,
      listening: this.servers.get(port)?.listening ?? false,
      connections: this.connectionCount(port),
      ...(this.lastErrors.has(port) ? { lastError: this.lastErrors.get(port) } : {}),
    }));
  }

  /**
   * Stops accepting at once, gives open connections `drainMs` to finish, runs `beforeCut`
   * (the engine's last answers), then destroys the rest. Safe to call twice: the second call
   * waits for the first.
   */
  stop(drainMs: number, beforeCut: () => Promise<void> = async () => undefined): Promise<void> {
    this.stopping ??= this.drain(drainMs, beforeCut);
    return this.stopping;
  }

  private async drain(drainMs: number, beforeCut: () => Promise<void>): Promise<void> {
    const closing = this.closeServers();
    // Answered and only reading what their clients still send: nothing to wait for.
    for (const set of this.connections.values()) for (const socket of set) if (isLingering(socket)) socket.destroy();
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
      await beforeCut();
      for (const set of this.connections.values()) for (const socket of set) socket.destroy();
    }
    await closing;
  }

  /** True when `port` is served and its listener is bound. */
  isListening(port: number): boolean {
    return this.servers.get(port)?.listening ?? false;
  }

  /**
   * Makes the served endpoints exactly `endpoints` (a reload), without touching the ports in
   * both sets.
   * The new ports are bound first, all or none: if one fails, those just bound are closed again
   * and it throws LISTEN_FAILED with nothing changed. Then the removed ports stop listening and
   * their open connections (tunnels included) are closed.
   */
  async reconcile(endpoints: readonly ListenEndpoint[]): Promise<{ added: number[]; removed: number[] }> {
    if (this.stopping) throw new StickyportError('LISTEN_FAILED', 'stickyport is stopping');
    const key = (endpoint: ListenEndpoint): string => `${endpoint.host} ${endpoint.port}`;
    const wanted = new Set(endpoints.map(key));
    const served = new Set(this.endpointList.map(key));
    const addedEndpoints = endpoints.filter((endpoint) => !served.has(key(endpoint)));
    const added = addedEndpoints.map((endpoint) => endpoint.port);
    const removed = this.endpointList.filter((endpoint) => !wanted.has(key(endpoint))).map((endpoint) => endpoint.port);
    const failures = new Map<number, string>();
    // Kept apart until the reload is committed: a port that moves to another host is both added
    // (new host) and removed (old host), and its old listener must still be found to close it.
    const bound = new Map<number, net.Server>();
    for (let i = 0; i < addedEndpoints.length && failures.size === 0; i += BIND_BATCH) {
      const batch = addedEndpoints.slice(i, i + BIND_BATCH);
      const results = await Promise.allSettled(batch.map((endpoint) => this.listen(endpoint)));
      results.forEach((result, index) => {
        if (result.status === 'fulfilled') bound.set(batch[index]!.port, result.value);
        else failures.set(batch[index]!.port, (result.reason as NodeJS.ErrnoException).code ?? String(result.reason));
      });
    }
    if (failures.size > 0 || this.stopping) {
      await Promise.all([...bound.values()].map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
      // A stop that began while the new ports were being bound wins: none of them stays open.
      if (this.stopping) throw new StickyportError('LISTEN_FAILED', 'stickyport is stopping');
      throw new StickyportError('LISTEN_FAILED', describeFailuresByHost(endpoints, failures, [], this.endpointList));
    }
    this.endpointList = [...endpoints];
    // closePort() takes each old listener out of the map at once, before the new ones go in.
    const closing = removed.map((port) => this.closePort(port));
    for (const [port, server] of bound) this.servers.set(port, server);
    this.options.limits.listeningChanged(added.length - removed.length);
    await Promise.all(closing);
    return { added, removed };
  }

  /** A port no longer served: its listener closes and so do its connections. */
  private async closePort(port: number): Promise<void> {
    const server = this.servers.get(port);
    this.servers.delete(port);
    this.lastErrors.delete(port);
    for (const socket of this.connections.get(port) ?? []) socket.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** A listener bound to the endpoint; the caller files it under its port. */
  private async listen({ host, port }: ListenEndpoint): Promise<net.Server> {
    // Half-open kept: a tunnel client that sends its request and then FIN still gets the answer.
    const server = net.createServer({ noDelay: true, allowHalfOpen: true }, (socket) => this.accept(port, socket));
    // A plain callback rather than events.once: its abort-signal plumbing shows at 10 000 ports.
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port, exclusive: true }, () => {
        server.removeListener('error', reject);
        resolve();
      });
    });
    server.on('error', (error: NodeJS.ErrnoException) => this.lastErrors.set(port, error.code ?? error.message));
    return server;
  }

  private accept(port: number, socket: TrackedSocket): void {
    const client = socket.remoteAddress ?? '';
    if (this.options.limits.admit(client, port) !== undefined) {
      socket.destroy();
      return;
    }
    socket[acceptedOn] = port;
    let set = this.connections.get(port);
    if (!set) {
      set = new Set();
      this.connections.set(port, set);
    }
    set.add(socket);
    socket.once('close', () => {
      this.options.limits.release(client, port);
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
