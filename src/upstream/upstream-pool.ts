import type { Logger } from '../logging/logger.js';
import type { Session } from '../session/session.js';
import { memberByHash, type UpstreamMember } from './upstream-member.js';

export interface CooldownOptions {
  /** Refusals within `withinMs` that put a member on cooldown. */
  readonly refusals: number;
  readonly withinMs: number;
  /** How long a member on cooldown is skipped. */
  readonly forMs: number;
}

/** One member of a pool, with what this instance knows of it. */
export interface PoolEntry {
  readonly member: UpstreamMember;
  readonly key: string;
  /** Live sessions of this instance pinned to it (see UpstreamPool). */
  sessions: number;
  /** When it refused connections lately (ms since the epoch), oldest first. */
  refusals: number[];
  /** Skipped for new sessions, and its sessions move, until then. */
  coolingUntil: number;
}

/**
 * The members of `Upstream.Urls` and which ports' sessions are pinned to each. A new session
 * goes to the member with the fewest live sessions this instance knows of (ties in list order),
 * skipping members on cooldown: one that refused `refusals` connections within `withinMs` is
 * skipped for `forMs`, and the sessions pinned to it move on their next use (PortState).
 *
 * "Live sessions this instance knows of": the port sessions it created, read or used and that
 * have not expired, rotated or been reset since, and those in the store at start-up. Each port
 * counts once, for the member of its current session.
 */
export class UpstreamPool {
  readonly entries: readonly PoolEntry[];
  private readonly byKey: ReadonlyMap<string, PoolEntry>;
  private readonly pinned = new Map<number, PoolEntry>();
  /** Sessions read from the store at start-up that no request has touched yet: counted until they expire. */
  private readonly preloaded = new Map<number, number>();

  constructor(
    members: readonly UpstreamMember[],
    private readonly cooldown: CooldownOptions,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.entries = members.map((member) => ({ member, key: member.key, sessions: 0, refusals: [], coolingUntil: 0 }));
    this.byKey = new Map(this.entries.map((entry) => [entry.key, entry]));
  }

  get keys(): ReadonlySet<string> {
    return new Set(this.byKey.keys());
  }

  /** The member `session` is pinned to: its stored choice, else (a value older than the pool) one by its id. */
  entryOf(session: Session): PoolEntry {
    return (session.upstream !== undefined ? this.byKey.get(session.upstream) : undefined) ?? memberByHash(this.entries, session.id);
  }

  /**
   * The member for a new session of `port`: the fewest live sessions among those not cooling
   * down, ties in list order. The session the port has now is not counted: it is the one being
   * replaced (counted, a rotation on a pool spread 2/2 over two members moved it to 3/1).
   */
  choose(port: number, avoid?: PoolEntry): PoolEntry {
    this.dropExpiredPreloads();
    const now = this.now();
    const own = this.pinned.get(port);
    const count = (entry: PoolEntry): number => entry.sessions - (entry === own ? 1 : 0);
    let best: PoolEntry | undefined;
    for (const entry of this.entries) {
      if (entry === avoid || entry.coolingUntil > now) continue;
      if (!best || count(entry) < count(best)) best = entry;
    }
    // Every member cooling down: trying one is better than failing for certain.
    if (!best) for (const entry of this.entries) if (entry !== avoid && (!best || count(entry) < count(best))) best = entry;
    return best ?? this.entries[0]!;
  }

  /** `port`'s session is now pinned to `entry` (replacing what it had). */
  pin(port: number, entry: PoolEntry): void {
    this.preloaded.delete(port);
    const before = this.pinned.get(port);
    if (before === entry) return;
    if (before) before.sessions--;
    entry.sessions++;
    this.pinned.set(port, entry);
  }

  /** `port` has no live session any more (expired, reset, retired). */
  release(port: number): void {
    this.preloaded.delete(port);
    const before = this.pinned.get(port);
    if (!before) return;
    before.sessions--;
    this.pinned.delete(port);
  }

  /** Counts the sessions a store held at start-up, until a request touches their port or they expire. */
  preload(sessions: readonly Session[]): void {
    for (const session of sessions) {
      const entry = this.entryOf(session);
      this.pin(session.port, entry);
      if (session.expiresAt !== null) this.preloaded.set(session.port, session.expiresAt);
    }
  }

  isCooling(entry: PoolEntry): boolean {
    return entry.coolingUntil > 0 && entry.coolingUntil > this.now();
  }

  /** True when a session on `entry` has somewhere else to go. */
  hasAlternative(entry: PoolEntry): boolean {
    const now = this.now();
    return this.entries.some((other) => other !== entry && other.coolingUntil <= now);
  }

  /** `entry` refused a connection; true when that put it on cooldown. */
  refused(entry: PoolEntry): boolean {
    const now = this.now();
    const { refusals, withinMs, forMs } = this.cooldown;
    entry.refusals.push(now);
    while (entry.refusals.length > 0 && entry.refusals[0]! <= now - withinMs) entry.refusals.shift();
    if (entry.refusals.length < refusals || this.isCooling(entry)) return false;
    entry.coolingUntil = now + forMs;
    entry.refusals = [];
    this.log.warn(
      { upstream: entry.member.description, refusals, withinMs, cooldownMs: forMs, pinnedSessions: entry.sessions },
      'upstream refused connections repeatedly: skipped for new sessions, its sessions move on their next use',
    );
    return true;
  }

  private dropExpiredPreloads(): void {
    if (this.preloaded.size === 0) return;
    const now = this.now();
    for (const [port, expiresAt] of this.preloaded) if (expiresAt <= now) this.release(port);
  }
}
