import type { Logger } from '../logging/logger.js';
import type { Session } from '../session/session.js';
import { MemorySessionStore } from './memory-store.js';
import { startsOutage } from './redis-errors.js';
import { StoreClosedError, type SessionStore } from './session-store.js';

// While Redis is down, how often to check whether it answers again (besides ioredis's 'ready').
const RECOVERY_PROBE_MS = 500;

export interface WriteBackCounts {
  /** Local sessions now in Redis. */
  readonly written: number;
  /** Local sessions dropped because Redis already had a session for the port. */
  readonly keptFromRedis: number;
}

/** The few Redis operations the fallback needs; the Redis store provides them. */
export interface RedisConnection {
  /** True when the connection can take commands (ioredis status 'ready'). */
  isReady(): boolean;
  ping(): Promise<unknown>;
  /** SET NX for each session: where Redis already has a session for the port, Redis wins. */
  writeIfAbsent(sessions: readonly Session[]): Promise<WriteBackCounts>;
  /** SET (or DEL, for undefined) whatever Redis holds, and announce it; resolves with the count. */
  overwrite(changes: ReadonlyMap<number, Session | undefined>): Promise<number>;
}

/** The local copy: the last state Redis gave us while it answers, the only state while it does not. */
class LocalSessions extends MemorySessionStore {
  remember(port: number, session: Session | undefined): void {
    if (session) this.sessions.set(port, session);
    else this.sessions.delete(port);
  }

  snapshot(): Session[] {
    this.sweep();
    return [...this.sessions.values()];
  }
}

/**
 * What keeps the Redis store serving while Redis does not answer: a local copy of the sessions,
 * an outage that is logged once however many requests fail, a probe that notices Redis is back,
 * and the write-back of the local sessions that ends the outage.
 */
export class RedisFallback {
  private readonly local = new LocalSessions();
  /** Rotations (replace, delete) acknowledged while Redis was away: they win over Redis on recovery. */
  private readonly acknowledged = new Map<number, Session | undefined>();
  private outage = false;
  private outageCount = 0;
  private recovering = false;
  private probe: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly redis: RedisConnection,
    private readonly log: Logger,
  ) {}

  /**
   * Runs `remote` unless Redis is known to be down; uses the local copy if Redis cannot be
   * used. A command Redis refused for its own reasons fails this call only: one port's bad key
   * must not send every port to local memory.
   */
  async either<T>(remote: () => Promise<T>, fromLocal: (local: SessionStore) => Promise<T>): Promise<T> {
    if (this.closed) throw new StoreClosedError('redis');
    if (!this.outage) {
      try {
        return await remote();
      } catch (error) {
        if (this.closed) throw new StoreClosedError('redis');
        if (!startsOutage(error)) throw error;
        this.startOutage(error as Error);
      }
    }
    return fromLocal(this.local);
  }

  /**
   * A rotation served from the local copy during an outage: the client was told it happened,
   * so on recovery it is written over what Redis holds instead of yielding to it.
   */
  acknowledgedLocally<T>(port: number, session: Session | undefined, apply: () => Promise<T>): Promise<T> {
    this.acknowledged.set(port, session);
    return apply();
  }

  /** True while Redis is away and sessions are served from the local copy. */
  get inOutage(): boolean {
    return this.outage;
  }

  /** Outages begun since start. */
  get outages(): number {
    return this.outageCount;
  }

  /** Records what Redis answered for a port (undefined: no live session there). */
  remember(port: number, session: Session | undefined): void {
    this.local.remember(port, session);
  }

  startOutage(error: Error): void {
    if (this.closed || this.outage) return;
    this.outage = true;
    this.outageCount++;
    this.log.error({ err: error.message }, 'Redis is unreachable: serving sessions from local memory until it is back');
    this.probe = setInterval(() => void this.tryRecover(), RECOVERY_PROBE_MS);
    this.probe.unref();
  }

  async tryRecover(): Promise<void> {
    if (!this.outage || this.recovering || this.closed || !this.redis.isReady()) return;
    this.recovering = true;
    try {
      await this.redis.ping();
      const rotations = await this.writeBackRotations();
      const { written, keptFromRedis } = await this.writeBackLocalSessions();
      // No await between the last snapshot of the local copy and this line: nothing is missed.
      if (this.acknowledged.size > 0) return; // a rotation came in meanwhile: next probe
      this.outage = false;
      clearInterval(this.probe);
      this.log.info({ written, keptFromRedis, rotations }, 'Redis is back: local sessions reconciled');
    } catch (error) {
      // Still away: the probe or the next 'ready' tries again.
      this.log.debug({ err: (error as Error).message }, 'Redis not back yet');
    } finally {
      this.recovering = false;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.probe);
    await this.local.close();
  }

  /** The rotations acknowledged during the outage, written over Redis. */
  private async writeBackRotations(): Promise<number> {
    if (this.acknowledged.size === 0) return 0;
    const changes = new Map(this.acknowledged);
    const count = await this.redis.overwrite(changes);
    // Only those written: a rotation acknowledged while this write ran stays for the next round.
    for (const [port, session] of changes) if (this.acknowledged.get(port) === session) this.acknowledged.delete(port);
    return count;
  }

  /** Repeats until a round finds nothing new: requests keep changing the local copy meanwhile. */
  private async writeBackLocalSessions(): Promise<WriteBackCounts> {
    const done = new Set<Session>();
    let written = 0;
    let keptFromRedis = 0;
    for (let todo = this.local.snapshot(); todo.length > 0; todo = this.local.snapshot().filter((s) => !done.has(s))) {
      const counts = await this.redis.writeIfAbsent(todo);
      written += counts.written;
      keptFromRedis += counts.keptFromRedis;
      for (const session of todo) done.add(session);
    }
    return { written, keptFromRedis };
  }
}
