import type net from 'node:net';
import type { HostRuleConfig } from '../config/load.js';
import { StickyportError, type UpstreamError } from '../errors.js';
import type { Logger } from '../logging/logger.js';
import { sameParams, type SessionParams } from '../session/parameters.js';
import { isLive, type Session } from '../session/session.js';
import type { SessionService } from '../session/session-service.js';
import type { ChangeOptions } from '../store/session-store.js';
import { renderedAgain, type UpstreamRoute } from '../upstream/route.js';
import type { PoolEntry } from '../upstream/upstream-pool.js';
import type { Mapping } from './mapping.js';
import { cutTunnel } from './tunnel-cut.js';

// Store reads of a port's session thrown away because it changed meanwhile, before the last
// one is taken as it is (see load()).
const MAX_STALE_READS = 32;

/** Times a request may lose its session to clients asking for other parameters before its 409. */
export const CONTESTED_LIMIT = 3;

/** The 409 for a port whose clients keep asking, at the same moment, for different parameters. */
export function parametersConflict(port: number): StickyportError {
  return new StickyportError(
    'PARAMETERS_CONFLICT',
    `port ${port} holds one session, and other clients keep asking it for other parameters: give each set of parameters a port of its own`,
    { status: 409 },
  );
}

/**
 * What a port's state answers once a reload took the port out (Ports.release) or a stop began:
 * a rotation not yet begun, or a session load waiting for its store, then ends here, and
 * installs nothing (a rotation already writing its session finishes that write, installing
 * nothing either). Installed, the session armed its expiry and its keep-alive and identity checks on a
 * state no one would destroy again: billed traffic for a port no longer served (a bulk rotation
 * during a reload, 45 keep-alive requests in 2.5 s for 15 removed ports; for good with
 * StickyProxyLifetime 0).
 */
export class PortReleasedError extends StickyportError {
  constructor(port: number) {
    super('STOPPING', `port ${port} is no longer served (a reload took it out, or stickyport is stopping)`, { status: 503 });
  }
}

/** A session as traffic uses it: its id, the routes rendered for it, the tunnels bound to it. */
export interface Binding {
  /** The session; replaced only by the same session (same id) with what was learnt of it (its exit). */
  session: Session;
  /** Its main route; rendered again only by a reload that changed nothing but a password. */
  route: UpstreamRoute;
  /** The pool member the session goes out through, when the port's upstream is a pool. */
  entry: PoolEntry | undefined;
  /** Routes of host rules with an upstream of their own, made for this session on first use. */
  ruleRoutes: Map<HostRuleConfig, UpstreamRoute> | undefined;
  /** Client sockets carrying this session's identity for their whole life: CONNECT tunnels, WebSockets. */
  readonly tunnels: Set<net.Socket>;
  /** The mapping the session was made by (a reload may have given the port another since). */
  mapping: Mapping;
}

export interface PortStateDeps {
  readonly sessions: SessionService;
  /** The mapping the port belongs to: how its sessions and routes are made. */
  readonly mapping: Mapping;
  readonly log: Logger;
  /** The store is shared with other instances (Redis): read it on every request. */
  readonly shared: boolean;
  /** Told of every new binding (a session this instance starts using): identity checks, keep-alive. */
  readonly installed?: (state: PortState, binding: Binding) => void;
  /** Told of every client request that goes out on a binding. */
  readonly used?: (state: PortState, binding: Binding) => void;
}

// setTimeout overflows past 2^31-1 ms (~24.8 days); longer lifetimes re-arm.
const MAX_TIMER_MS = 2 ** 31 - 1;

/** replaceSession's `carried`: the parameters are the session's before, not asked for now. */
const CARRIED = true;

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
 *
 * Two more things start a rotation on a request's way: a login whose user name parameters
 * differ from the session's (a new session with them), and a session pinned to a pool member
 * on cooldown (a new session on another member). Both go through `rotate`, like the API's.
 */
export class PortState {
  private binding: Binding | undefined;
  private expiry: NodeJS.Timeout | undefined;
  private generation = 0;
  private rotating: Promise<unknown> | undefined;
  /** Which host rule each rule route serves, so that a retry finds the same rule's route on the new session. */
  private readonly ruleOf = new WeakMap<UpstreamRoute, HostRuleConfig>();
  private currentMapping: Mapping;
  /** A reload's new settings for this port, taken up when the current session ends. */
  private nextMapping: Mapping | undefined;
  /** Destroyed (its port taken out, or shutdown): nothing is installed from here on. */
  private released = false;

  constructor(
    readonly port: number,
    private readonly deps: PortStateDeps,
  ) {
    this.currentMapping = deps.mapping;
  }

  /** What the port's current session was made by: its upstream, lifetime and parameters. */
  get mapping(): Mapping {
    return this.currentMapping;
  }

  /**
   * The newest settings of the port's mapping, which judge every request from the moment a
   * reload applies them: the client login, host rules, RejectHttpProxy, rotation rules. (A
   * leaked password must stop working on the reload, not when the session ends.) What the
   * session itself was made by stays until it ends: that is the port's identity (`mapping`).
   */
  get policy(): Mapping {
    return this.nextMapping ?? this.currentMapping;
  }

  /**
   * A reload changed the settings of this port's mapping: they judge requests at once
   * (`policy`), and sessions made from now on follow them. A session already running keeps
   * the upstream, lifetime and parameters it was made with until it rotates or expires.
   */
  useMapping(next: Mapping, lineage?: (name: string) => { before: Mapping | undefined; after: Mapping | undefined }): void {
    if (next === this.currentMapping) return;
    const binding = this.binding;
    if (binding) this.dropRuleRoutes(binding);
    // The same exit from the new settings (at most a password changed): the session takes them
    // now, rendered again for a new password; the old route finishes what it carries.
    const same = binding && !this.rotating ? next.sameExitAs(binding.mapping) : undefined;
    if (binding && same) {
      this.takeMapping(binding, next, !same.samePassword);
      this.nextMapping = undefined;
      return;
    }
    // Another exit: the session keeps its own until it ends. But a reload that changed only
    // the passwords of the settings it came from (a provider's new password) reaches it too,
    // where it sends a password so replaced: rendered again at once, on its old exit. Those are
    // the port's mapping, or, for a port an earlier reload moved, the mapping the session was
    // made by (by name), before and after this reload.
    const moved = binding && lineage && binding.mapping.name !== next.name;
    const { before, after } = moved ? lineage(binding.mapping.name) : { before: this.policy, after: next };
    const passwordsOnly = binding && !this.rotating && before && after ? after.sameExitAs(before) : undefined;
    const withNewPassword = passwordsOnly && !passwordsOnly.samePassword ? binding!.mapping.withPasswordsOf(before!, after!) : undefined;
    if (binding && withNewPassword) this.takeMapping(binding, withNewPassword, true);
    if (binding || this.rotating) this.nextMapping = next;
    else this.currentMapping = next;
  }

  /**
   * Host rule routes were made for the rules of the settings before: requests now follow the
   * new rules' (made on first use), so these finish what they carry and close.
   */
  private dropRuleRoutes(binding: Binding): void {
    for (const route of binding.ruleRoutes?.values() ?? []) route.close();
    binding.ruleRoutes = undefined;
  }

  /** `binding`'s session goes on under `next`, which gives it the same exit; `render`: a new password. The caller sets nextMapping. */
  private takeMapping(binding: Binding, next: Mapping, render: boolean): void {
    binding.mapping.pool?.release(this.port);
    if (render) {
      const old = binding.route;
      const { route, entry } = next.routeFor(binding.session);
      binding.route = route;
      binding.entry = entry;
      renderedAgain.add(old);
      old.close();
    } else if (next.pool) {
      binding.entry = next.pool.entryOf(binding.session);
    }
    if (binding.entry) next.pool!.pin(this.port, binding.entry);
    binding.mapping = next;
    this.currentMapping = next;
  }

  /**
   * The binding a request arriving now must use; synchronous when nothing needs the store.
   * `params`: the parameters the request's login carries (undefined: none, keep the session).
   */
  current(params?: SessionParams): Binding | Promise<Binding> {
    const binding = this.binding;
    if (
      binding &&
      !this.rotating &&
      !this.deps.shared &&
      isLive(binding.session) &&
      (binding.entry === undefined || !this.mustMove(binding.entry)) &&
      (params === undefined || this.hasParams(binding.session, params))
    ) {
      return binding;
    }
    return this.load(params);
  }

  /** The port's session without creating one (API answers of other instances, status). */
  get session(): Session | undefined {
    return this.binding?.session;
  }

  /** Tunnels and WebSockets open on the port's session now. */
  get openTunnels(): number {
    return this.binding?.tunnels.size ?? 0;
  }

  /** current(), counted as used: the binding a client request goes out on now. */
  take(params?: SessionParams): Binding | Promise<Binding> {
    const binding = this.current(params);
    return binding instanceof Promise ? binding.then((loaded) => this.use(loaded)) : this.use(binding);
  }

  /** A client request goes out on `binding` (identity checks and keep-alive go by use). */
  use(binding: Binding): Binding {
    this.deps.used?.(this, binding);
    return binding;
  }

  /** Resolves once the port's session would survive a crash: before the API names it. */
  durable(): Promise<void> {
    return this.deps.sessions.flush(this.port);
  }

  /** True while `binding` is the port's: neither rotated nor expired. */
  holds(binding: Binding): boolean {
    return binding === this.binding;
  }

  /** What was learnt about the port's session (its exit identity): kept if it is still the port's. */
  amended(session: Session): void {
    if (this.binding?.session.id === session.id) this.binding.session = session;
  }

  /**
   * `/session/new`: a new session now, with `params` (undefined: the ones the session had).
   * `options.acknowledged`: the caller answers for it (the session and admin APIs): a store
   * that could not make it durable refuses it (ChangeOptions).
   */
  renew(params?: SessionParams, options?: ChangeOptions): Promise<Session> {
    return this.rotate('renewed', () => (params ? this.replaceSession(params, undefined, options) : this.replaceSession(this.binding?.session.params, undefined, options, CARRIED)));
  }

  /**
   * A rotation that ends `sessionId` (the session a rotation rule or an identity check judged): a
   * new session, unless by its turn (it waits for a rotation under way) another rotation has
   * already ended that one, such as a `/session/new` still waiting for its store when the rule
   * fired, whose answer must stay the port's id. Then nothing changes: undefined.
   */
  renewFrom(sessionId: string): Promise<Session | undefined> {
    return this.rotate('renewed', async () => (this.binding?.session.id === sessionId ? this.replaceSession(this.binding.session.params, undefined, undefined, CARRIED) : undefined));
  }

  /** The route of `rule`'s own upstream for `binding`'s session, made on first use. */
  ruleRoute(binding: Binding, rule: HostRuleConfig): UpstreamRoute {
    let route = binding.ruleRoutes?.get(rule);
    if (route) return route;
    route = this.mapping.ruleRouteFor(rule, binding.session);
    (binding.ruleRoutes ??= new Map()).set(rule, route);
    this.ruleOf.set(route, rule);
    // Retired while the request was on its way: nothing may be sent on it (the request is retried).
    if (binding !== this.binding) route.close();
    return route;
  }

  /** A request through `route` failed with `error`: the member's own refusal counts against it (not a target's it passed on). */
  upstreamFailed(route: UpstreamRoute, error: StickyportError): void {
    const binding = this.binding;
    const { pool } = this.mapping;
    if (!pool || error.code !== 'UPSTREAM_REFUSED' || (error as UpstreamError).byTarget || !binding || binding.route !== route || !binding.entry) return;
    pool.refused(binding.entry);
  }

  /** `/session/reset`: no session until the next request creates one (`options` as for renew). */
  reset(options?: ChangeOptions): Promise<boolean> {
    return this.rotate('reset', async () => {
      const existed = await this.deps.sessions.reset(this.port, options);
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

  /** True while `binding` is the port's: nothing has retired it. */
  carries(binding: Binding): boolean {
    return binding === this.binding;
  }

  /**
   * Ties `socket` to `binding` for its whole life: a rotation closes it. False when the
   * binding was retired before the socket could be tied to it: ask current() again.
   */
  bindTunnel(binding: Binding, socket: net.Socket): boolean {
    if (!this.carries(binding)) return false;
    // Already gone (the client reset while the upstream side opened): its 'close' has fired,
    // so it would never leave the set. The caller sees it destroyed and cleans up.
    if (socket.destroyed) return true;
    binding.tunnels.add(socket);
    socket.once('close', () => binding.tunnels.delete(socket));
    return true;
  }

  /**
   * bindTunnel for the binding `route` belongs to (its main route or one of its rule routes):
   * false when that binding is no longer the port's.
   */
  bindTunnelOn(route: UpstreamRoute, socket: net.Socket): boolean {
    const binding = this.binding;
    if (!binding) return false;
    const rule = this.ruleOf.get(route);
    const carries = binding.route === route || (rule !== undefined && binding.ruleRoutes?.get(rule) === route);
    return carries && this.bindTunnel(binding, socket);
  }

  /** Shutdown, or the port taken out: every connection of the current binding, pooled or tunnelled, closes now. */
  destroy(): void {
    this.released = true;
    const binding = this.binding;
    this.retire('shutdown');
    binding?.route.destroy();
    for (const route of binding?.ruleRoutes?.values() ?? []) route.destroy();
  }

  private async load(params: SessionParams | undefined): Promise<Binding> {
    for (let contested = 0, stale = 0; ; ) {
      if (this.rotating) {
        await this.rotating.catch(() => undefined);
        continue;
      }
      const generation = this.generation;
      const session = await this.deps.sessions.current(this.port, () => this.created(params));
      if (this.released) throw new PortReleasedError(this.port);
      // A rotation (or another instance's change) began while the store answered: what was
      // read may be the old session. Never install it: ask again. But not forever: with change
      // notices that never stop (an instance rotating without pause, anyone able to PUBLISH)
      // the request would get no answer. After that many reads, what the last one found is
      // taken: it is what the store held during that read, and the next notice checks it
      // against the store again (changedElsewhere).
      if (generation !== this.generation && ++stale < MAX_STALE_READS) continue;
      const binding = this.install(session);
      if (params !== undefined && !this.hasParams(session, params)) {
        // Never out with other parameters than the login's: if the store refuses the new
        // session, the request fails (503) rather than leave with the old one.
        const renewed = await this.rotateTo('parameters changed', params).catch((error: unknown) => {
          throw new StickyportError('STORE_UNAVAILABLE', `the session store could not take the login's new parameters: ${(error as Error).message}`, { status: 503, cause: error });
        });
        // Ours, unless a client asking for other parameters rotated the port again meanwhile.
        if (this.binding?.session === renewed) return this.binding;
        if (++contested >= CONTESTED_LIMIT) throw parametersConflict(this.port);
        continue;
      }
      if (binding.entry && this.mustMove(binding.entry)) {
        // A move the store refuses is tried again on the next request; this one goes as it was.
        const moved = await this.rotateTo('upstream cooling down', session.params, binding.entry, CARRIED).then(() => true, () => false);
        if (moved) continue;
      }
      return binding;
    }
  }

  /**
   * The session a request makes when the store holds none for the port: the one it had has
   * ended (expired, its timer not yet run, or reset elsewhere), so a reload's settings waiting
   * for that end are taken up first, as retire() takes them up.
   */
  private created(params: SessionParams | undefined): Session {
    this.adoptNextMapping();
    return this.mapping.newSession(this.port, params);
  }

  /** A new session on the request's way: with other parameters, or off a member cooling down. */
  private rotateTo(reason: string, params: SessionParams | undefined, avoid?: PoolEntry, carried = false): Promise<Session> {
    const before = this.binding?.session;
    return this.rotate(reason, async () => {
      const session = await this.replaceSession(params, avoid, undefined, carried);
      this.deps.log.info(
        { port: this.port, sessionId: session.id, previousId: before?.id, upstream: session.upstream, previousUpstream: before?.upstream, params: session.params, reason },
        'session replaced',
      );
      return session;
    });
  }

  /**
   * Within a rotation: a new session in the store (on a member other than `avoid`), installed as
   * the port's. `carried`: `params` are the session's before, not asked for now (Mapping.newSession).
   */
  private async replaceSession(params: SessionParams | undefined, avoid?: PoolEntry, options?: ChangeOptions, carried = false): Promise<Session> {
    const session = await this.deps.sessions.renew(this.port, this.mapping.newSession(this.port, params, avoid, carried), this.binding ? true : undefined, options);
    // Taken out while the store wrote it: the rotation is made (the store holds it, and has
    // announced it; a port that comes back finds it), but nothing runs it here.
    if (this.released) return session;
    this.install(session);
    return session;
  }

  private hasParams(session: Session, params: SessionParams): boolean {
    const { mapping } = this;
    // A retry of a request whose login was read before a reload may name a parameter no longer
    // declared: what the session would render is compared, not the name.
    return sameParams(mapping.paramsOf(session), { ...mapping.defaults, ...mapping.declaredOnly(params) });
  }

  private mustMove(entry: PoolEntry): boolean {
    const pool = this.mapping.pool!;
    return pool.isCooling(entry) && pool.hasAlternative(entry);
  }

  private rotate<T>(reason: string, work: () => Promise<T>): Promise<T> {
    this.generation++;
    const before = this.rotating;
    const run = (async () => {
      if (before) await before.catch(() => undefined);
      if (this.released) throw new PortReleasedError(this.port);
      // The session this rotation makes follows a reload's new settings for the port.
      this.adoptNextMapping();
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

  private adoptNextMapping(): void {
    if (!this.nextMapping) return;
    this.currentMapping = this.nextMapping;
    this.nextMapping = undefined;
  }

  private install(session: Session): Binding {
    const existing = this.binding;
    if (existing && existing.session.id === session.id) {
      // A shared store's copy may know more of the session (another instance's exit check).
      if (existing.session !== session) existing.session = session;
      return existing;
    }
    if (existing) this.retire('replaced');
    const { route, entry } = this.mapping.routeFor(session);
    const binding: Binding = { session, route, entry, ruleRoutes: undefined, tunnels: new Set(), mapping: this.mapping };
    this.binding = binding;
    if (entry) this.mapping.pool!.pin(this.port, entry);
    this.armExpiry(binding);
    this.deps.installed?.(this, binding);
    return binding;
  }

  /** Where a rotation closes what carried the old session. */
  private retire(reason: string): void {
    const binding = this.binding;
    if (!binding) return;
    this.binding = undefined;
    clearTimeout(this.expiry);
    binding.mapping.pool?.release(this.port);
    this.adoptNextMapping();
    binding.route.close();
    for (const route of binding.ruleRoutes?.values() ?? []) route.close();
    const tunnels = binding.tunnels.size;
    // A rotation resets them: nothing the old tunnels hold leaves after this (tunnel-cut.ts).
    // A stop is no rotation: its tunnels close as the listener pool closes every connection.
    for (const socket of binding.tunnels) {
      if (reason === 'shutdown') socket.destroy();
      else cutTunnel(socket);
    }
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
