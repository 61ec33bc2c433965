import { LoginPolicy } from '../auth/client-auth.js';
import type { HostRuleConfig, MappingConfig } from '../config/load.js';
import type { Logger } from '../logging/logger.js';
import { RuleBook, type RuleBookDeps } from '../rotation/rule-book.js';
import { HostRuleSet } from '../rules/host-rules.js';
import { effectiveParams, ParameterError, type DeclaredParams, type SessionParams } from '../session/parameters.js';
import { createSessionFactory, type Session, type SessionFactory } from '../session/session.js';
import { directRoute, memberRoute, type RouteOptions } from '../upstream/create-route.js';
import type { PoolTimeouts } from '../upstream/pool-options.js';
import type { UpstreamRoute } from '../upstream/route.js';
import { TargetGuard } from '../upstream/target-guard.js';
import { memberByHash, memberMaterial, sameExit, samePlainPassword, withPasswordOf, type UpstreamMember } from '../upstream/upstream-member.js';
import { socks5LoginCheck } from './socks5-login-check.js';
import { UpstreamPool, type CooldownOptions, type PoolEntry } from '../upstream/upstream-pool.js';

export interface MappingDeps {
  readonly idLength: number;
  readonly idAlphabet: string;
  readonly timeouts: PoolTimeouts;
  readonly cooldown: CooldownOptions;
  readonly log: Logger;
  /** What the mapping's rotation rules report to. */
  readonly rotation?: RuleBookDeps;
}

/** A session's main route, and the pool member it goes through (when the upstream is a pool). */
export interface SessionRoute {
  readonly route: UpstreamRoute;
  readonly entry: PoolEntry | undefined;
}

/** Every mapping's bypass route, of the configuration now or an earlier one: none carries an identity. */
const bypassRoutes = new WeakSet<UpstreamRoute>();

/**
 * One mapping at run time: what its ports share. It makes their sessions (id, expiry, pool
 * member, parameters) and their routes; it holds the login policy, the host rules and the one
 * direct route bypassed hosts use. Per-port state (the session a request uses, rotations) is
 * PortState's.
 */
export class Mapping {
  readonly name: string;
  /** Declared parameter names (with defaults in `defaults`). */
  readonly declared: DeclaredParams;
  readonly defaults: SessionParams;
  readonly login: LoginPolicy;
  readonly rules: HostRuleSet;
  /** The rotation rules (the mapping's own, then the global ones); undefined when there are none. */
  readonly rotation: RuleBook | undefined;
  /** The upstream pool when the mapping has two or more members: a session is pinned to one. */
  readonly pool: UpstreamPool | undefined;
  private readonly single: UpstreamMember | undefined;
  private readonly createSession: SessionFactory;
  private readonly routeOptions: RouteOptions;
  private readonly guard: TargetGuard | undefined;
  private bypassRoute: UpstreamRoute | undefined;
  /**
   * What withPasswordsOf made, per newer mapping and the one before it. Both keys are weak: a
   * value holding the mapping before would keep every mapping of every reload alive, each
   * through the entry of the next (a heap growing by about 10 KB per reload).
   */
  private readonly derived = new WeakMap<Mapping, WeakMap<Mapping, Mapping | null>>();

  constructor(
    readonly config: MappingConfig,
    private readonly deps: MappingDeps,
    /** For a mapping made by withPasswordsOf: the one whose bypass route it uses (a bypass carries no identity). */
    private readonly bypassOf?: Mapping,
  ) {
    this.name = config.name;
    this.defaults = config.upstream.parameters;
    // A host rule's own upstream renders the same parameters: its separators count too.
    const plans = [config.upstream, ...config.hostRules.map((rule) => rule.upstream)].filter((plan) => plan !== undefined);
    const separators = plans.map((plan) => plan.separators ?? '').join('');
    const loginProblem = socks5LoginCheck(plans, config, deps.idLength);
    this.declared = Object.assign(new Set(Object.keys(this.defaults)), { separators, loginProblem });
    this.login = new LoginPolicy(config.auth, this.declared);
    this.rules = new HostRuleSet(config.hostRules);
    this.rotation = config.rotationRules.length > 0 && deps.rotation ? new RuleBook(config.rotationRules, deps.rotation) : undefined;
    const { members } = config.upstream;
    this.pool = members.length >= 2 ? new UpstreamPool(members, deps.cooldown, deps.log.child({ mapping: config.name })) : undefined;
    this.single = members.length === 1 ? members[0] : undefined;
    this.createSession = createSessionFactory({ idLength: deps.idLength, idAlphabet: deps.idAlphabet, lifetimeMs: config.lifetimeMs });
    this.routeOptions = { ...deps.timeouts, lifetimeMs: config.lifetimeMs };
    this.guard = config.allowPrivateTargets ? undefined : new TargetGuard();
  }

  owns(port: number): boolean {
    return port >= this.config.portStart && port <= this.config.portEnd;
  }

  /**
   * A new session for `port`: on the pool member with the fewest live sessions (not `avoid`).
   * `params` keeps only the names this mapping declares: a session carried over from settings
   * before a reload (`/session/new` keeps the parameters it had) must not name one no longer
   * rendered, which would report a value its exit lacks and count as other parameters later.
   */
  newSession(port: number, params: SessionParams | undefined, avoid?: PoolEntry, carried = false): Session {
    params = params && this.declaredOnly(params);
    // Values were checked against the login of their time: a reload since (even while a
    // rotation waited for the store) may have lengthened a SOCKS5 login past them, and the
    // session would be made with no tunnel able to use it. Values asked for now get their 400;
    // values carried over from the session before (`carried`: a plain /session/new, a rotation)
    // are left out, said.
    const problem = params && this.declared.loginProblem?.(params);
    if (problem && !carried) throw new ParameterError(`the parameters asked for cannot go into this upstream's login: ${problem}`);
    if (problem) {
      this.deps.log.warn({ port, params }, `a new session leaves out the parameters of the one before it: ${problem}`);
      params = undefined;
    }
    if (!this.pool) return this.createSession(port, { params });
    const entry = this.pool.choose(port, avoid);
    // Counted at once: ports creating sessions at the same moment spread instead of piling up.
    this.pool.pin(port, entry);
    return this.createSession(port, { upstream: entry.key, params });
  }

  /** `params` without the names this mapping does not declare (a login read before a reload may name one). */
  declaredOnly(params: SessionParams): SessionParams {
    if (Object.keys(params).every((name) => this.declared.has(name))) return params;
    return Object.fromEntries(Object.entries(params).filter(([name]) => this.declared.has(name)));
  }

  /** The parameter values `session` renders. */
  paramsOf(session: Session): SessionParams {
    return effectiveParams(this.defaults, session.params);
  }

  /** The session's main route: direct, its upstream, or its pool member. */
  routeFor(session: Session): SessionRoute {
    if (this.pool) {
      const entry = this.pool.entryOf(session);
      return { route: memberRoute(entry.member, session, this.paramsOf(session), this.routeOptions), entry };
    }
    if (this.single) return { route: memberRoute(this.single, session, this.paramsOf(session), this.routeOptions), entry: undefined };
    return { route: directRoute(session.id, this.routeOptions, this.guard), entry: undefined };
  }

  /** A host rule's own upstream for `session`: in a pool, the member its id picks (the same on every instance). */
  ruleRouteFor(rule: HostRuleConfig, session: Session): UpstreamRoute {
    const { members, parameters } = rule.upstream!;
    const member = members.length === 1 ? members[0]! : memberByHash(members, session.id);
    return memberRoute(member, session, effectiveParams(parameters, session.params), this.routeOptions);
  }

  /** The direct route of bypassed hosts: one for all the mapping's ports (it carries no identity). */
  get bypass(): UpstreamRoute {
    if (this.bypassOf) return this.bypassOf.bypass;
    if (!this.bypassRoute) {
      this.bypassRoute = directRoute('bypass', this.routeOptions, this.guard);
      bypassRoutes.add(this.bypassRoute);
    }
    return this.bypassRoute;
  }

  /**
   * True for a bypass route: this mapping's, or one a request took before a reload gave its
   * port another mapping (a retry of it must stay off the session's routes).
   */
  isBypass(route: UpstreamRoute): boolean {
    return bypassRoutes.has(route);
  }

  /**
   * Whether a session made by `other` gets the same exit from this mapping: the same upstream
   * members in the same order, but for their passwords, the same parameters, lifetime and
   * private-target rule. `samePassword`: and the same passwords too (nothing to render again).
   */
  sameExitAs(other: Mapping): { samePassword: boolean } | undefined {
    const [ours, theirs] = [this.config.upstream, other.config.upstream];
    if (ours.members.length !== theirs.members.length || this.config.lifetimeMs !== other.config.lifetimeMs) return undefined;
    if (this.config.allowPrivateTargets !== other.config.allowPrivateTargets) return undefined;
    if (JSON.stringify(ours.parameters) !== JSON.stringify(theirs.parameters) || ours.separators !== theirs.separators) return undefined;
    if (!ours.members.every((member, i) => member.key === theirs.members[i]!.key && sameExit(member, theirs.members[i]!))) return undefined;
    return { samePassword: ours.members.every((member, i) => memberMaterial(member) === memberMaterial(theirs.members[i]!)) };
  }

  /**
   * This mapping's exit with the passwords a reload from `before` to `next` changed, and nothing
   * else (a provider's new password): for a session still running on this mapping after an
   * earlier reload changed its exit. The provider soon refuses the old password, and the port
   * would fail until the session ends (for good with lifetime 0). Each member whose gateway
   * (host and port as configured) and plain password are those of a member of `before` takes
   * that member's new password in `next`. A reload that changes the exit and the password at
   * once is no such change: that may be another account, whose password is not this one's.
   * Undefined when no member's password changes. Made once per pair: every port on this
   * mapping shares it.
   */
  withPasswordsOf(before: Mapping, next: Mapping): Mapping | undefined {
    let known = this.derived.get(next);
    const made = known?.get(before);
    if (made !== undefined) return made ?? undefined;
    const was = before.config.upstream.members;
    const now = next.config.upstream.members;
    let changed = false;
    const members = this.config.upstream.members.map((member) => {
      const i = was.findIndex((other) => other.key === member.key && samePlainPassword(other, member));
      const taken = i >= 0 ? withPasswordOf(member, now[i]!) : undefined;
      if (taken) changed = true;
      return taken ?? member;
    });
    const mapping = changed ? new Mapping({ ...this.config, upstream: { ...this.config.upstream, members } }, this.deps, this.bypassOf ?? this) : undefined;
    if (!known) this.derived.set(next, (known = new WeakMap()));
    known.set(before, mapping ?? null);
    return mapping;
  }

  /** The configured mapping this one was made from by withPasswordsOf, or itself. */
  get origin(): Mapping {
    return this.bypassOf ?? this;
  }

  /** Replaced by a reload and used by no port: its bypass route closes once idle. */
  retire(): void {
    this.bypassRoute?.close();
  }

  /** Shutdown. */
  destroy(): void {
    this.bypassRoute?.destroy();
  }
}

