import type net from 'node:net';
import type { Logger } from '../logging/logger.js';
import { isLive, type Session } from '../session/session.js';
import type { SessionService } from '../session/session-service.js';
import type { RouteFactory } from '../upstream/create-route.js';
import type { UpstreamRoute } from '../upstream/route.js';

/** A session as traffic uses it: its id, the route rendered for it, the tunnels bound to it. */
export interface Binding {
  readonly session: Session;
  readonly route: UpstreamRoute;
  /** Client sockets carrying this session's identity for their whole life: CONNECT tunnels, WebSockets. */
  readonly tunnels: Set<net.Socket>;
}

export interface PortStateDeps {
  readonly sessions: SessionService;
  readonly createRoute: RouteFactory;
  readonly log: Logger;
  /** The store is shared with other instances (Redis): read it on every request. */
  readonly shared: boolean;
}

// setTimeout overflows past 2^31-1 ms (~24.8 days); longer lifetimes re-arm.
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * One port's identity. This is where a request's session is chosen (`current`) and where a
 * rotation closes what carried the old one (`retire`).
 *
 * A rotation is one step: it bumps `generation` synchronously, before any await, and stays
 * `rotating` until the store holds the new session and the new binding is installed. A request
 * that arrives meanwhile (even pipelined behind the API call on the same connection) waits for
 * it; a store read that began before it is thrown away when it returns, because the generation
 * moved. So once the API has answered, nothing that arrives later leaves with the old id.
 *
 * What a rotation closes: the old session's tunnels at once, and its pooled upstream
 * connections (idle ones at once, busy ones when their answer is complete). Clients' plain
 * HTTP keep-alive connections stay open: they carry no identity, each request is routed afresh.
 */
export class PortState {
  private binding: Binding | undefined;
  private expiry: NodeJS.Timeout | undefined;
  private generation = 0;
  private rotating: Promise<unknown> | undefined;

  constructor(
    readonly port: number,
    private readonly deps: PortStateDeps,
  ) {}

  /** The binding a request arriving now must use; synchronous when nothing needs the store. */
  current(): Binding | Promise<Binding> {
    const binding = this.binding;
    if (binding && !this.rotating && !this.deps.shared && isLive(binding.session)) return binding;
    return this.load();
  }

  /** The port's session without creating one (API answers of other instances, status). */
  get session(): Session | undefined {
    return this.binding?.session;
  }

  /** Tunnels and WebSockets open on the port's session now. */
  get openTunnels(): number {
    return this.binding?.tunnels.size ?? 0;
  }

  /** `/session/new`: a new session now. */
  renew(): Promise<Session> {
    return this.rotate('renewed', async () => {
      const session = await this.deps.sessions.renew(this.port);
      this.install(session);
      return session;
    });
  }

  /** `/session/reset`: no session until the next request creates one. */
  reset(): Promise<boolean> {
    return this.rotate('reset', async () => {
      const existed = await this.deps.sessions.reset(this.port);
      this.retire('reset');
      return existed;
    });
  }

  /** Another instance changed this port's session in the shared store. */
  async changedElsewhere(): Promise<void> {
    this.generation++;
    const binding = this.binding;
    if (!binding) return;
    const session = await this.deps.sessions.peek(this.port).catch(() => binding.session);
    if (this.binding === binding && session?.id !== binding.session.id) this.retire('changed by another instance');
  }

  /**
   * Ties `socket` to `binding` for its whole life: a rotation closes it. False when the
   * binding was retired before the socket could be tied to it: ask current() again.
   */
  bindTunnel(binding: Binding, socket: net.Socket): boolean {
    if (binding !== this.binding) return false;
    // Already gone (the client reset while the upstream side opened): its 'close' has fired,
    // so it would never leave the set. The caller sees it destroyed and cleans up.
    if (socket.destroyed) return true;
    binding.tunnels.add(socket);
    socket.once('close', () => binding.tunnels.delete(socket));
    return true;
  }

  /** Shutdown: every connection of the current binding, pooled or tunnelled, closes now. */
  destroy(): void {
    const binding = this.binding;
    this.retire('shutdown');
    binding?.route.destroy();
  }

  private async load(): Promise<Binding> {
    for (;;) {
      if (this.rotating) {
        await this.rotating.catch(() => undefined);
        continue;
      }
      const generation = this.generation;
      const session = await this.deps.sessions.current(this.port);
      // A rotation (or another instance's change) began while the store answered: what was
      // read may be the old session. Never install it: ask again.
      if (generation !== this.generation) continue;
      return this.install(session);
    }
  }

  private rotate<T>(reason: string, work: () => Promise<T>): Promise<T> {
    this.generation++;
    const before = this.rotating;
    const run = (async () => {
      if (before) await before.catch(() => undefined);
      return work();
    })();
    this.rotating = run;
    const settled = (): void => {
      if (this.rotating === run) this.rotating = undefined;
    };
    run.then(settled, settled);
    this.deps.log.debug({ port: this.port, reason }, 'rotation started');
    return run;
  }

  private install(session: Session): Binding {
    const existing = this.binding;
    if (existing && existing.session.id === session.id) return existing;
    if (existing) this.retire('replaced');
    const binding: Binding = { session, route: this.deps.createRoute(session), tunnels: new Set() };
    this.binding = binding;
    this.armExpiry(binding);
    return binding;
  }

  /** Where a rotation closes what carried the old session. */
  private retire(reason: string): void {
    const binding = this.binding;
    if (!binding) return;
    this.binding = undefined;
    clearTimeout(this.expiry);
    binding.route.close();
    const tunnels = binding.tunnels.size;
    for (const socket of binding.tunnels) socket.destroy();
    binding.tunnels.clear();
    this.deps.log.debug({ port: this.port, sessionId: binding.session.id, reason, closedTunnels: tunnels }, 'session retired');
  }

  private armExpiry(binding: Binding): void {
    const { expiresAt } = binding.session;
    if (expiresAt === null) return;
    const delay = expiresAt - Date.now();
    this.expiry = setTimeout(() => {
      if (this.binding !== binding) return;
      if (delay > MAX_TIMER_MS) return this.armExpiry(binding);
      this.deps.sessions.expired(this.port, binding.session);
      this.retire('expired');
    }, Math.max(0, Math.min(delay, MAX_TIMER_MS)));
    this.expiry.unref();
  }
}
