import type { Logger } from '../logging/logger.js';
import { isLive, type Session } from '../session/session.js';
import { MemorySessionStore } from './memory-store.js';
import { StickyportError } from '../errors.js';
import { refusedByAcl, refusedLogin, replyCode, startsOutage } from './redis-errors.js';
import { StoreClosedError, type SessionStore } from './session-store.js';

// While Redis is down, how often to check whether it answers again (besides ioredis's 'ready').
const RECOVERY_PROBE_MS = 500;

export interface WriteBackCounts {
  /** Local sessions now in Redis. */
  readonly written: number;
  /** Local sessions dropped because Redis already had a session for the port. */
  readonly keptFromRedis: number;
}

/** A session written back where Redis already held a value: what it held (undefined: no live session). */
export interface HeldByRedis {
  readonly sent: Session;
  readonly held: Session | undefined;
}

/** The few Redis operations the fallback needs; the Redis store provides them. */
export interface RedisConnection {
  /** True when the connection can take commands (ioredis status 'ready'). */
  isReady(): boolean;
  ping(): Promise<unknown>;
  /** Each session where Redis has none for the port; where it has one, that value is answered. */
  writeIfAbsent(sessions: readonly Session[]): Promise<{ readonly written: number; readonly held: readonly HeldByRedis[] }>;
  /** SET a session (or leave a reset's mark) over whatever Redis holds, and announce it; resolves with the count. */
  overwrite(changes: ReadonlyMap<number, LocalRotation>): Promise<number>;
  /** The mark of Redis's data set: the same for as long as Redis keeps its data (see DATA_SET_MARK). */
  dataSetMark(): Promise<string>;
}

/**
 * A rotation made in the local copy while Redis was away: the port's new session, or a reset
 * with the session it ended. Redis may have lost that session's key by the time the reset is
 * written back (restarted empty): the mark must still name it, or an instance that held it and
 * takes Redis for emptied writes it back, undoing the reset.
 */
export type LocalRotation = Session | { readonly reset: true; readonly ended: Session | undefined };

/** The local copy: the last state Redis gave us while it answers, the only state while it does not. */
class LocalSessions extends MemorySessionStore {
  remember(port: number, session: Session | undefined): void {
    if (session) this.sessions.set(port, session);
    else this.sessions.delete(port);
  }

  /**
   * The local copy's session for `session`'s port while it is still that session (same id):
   * its latest version, which an identity check may have amended with the exit it saw.
   */
  stillHolding(session: Session): Session | undefined {
    const held = this.sessions.get(session.port);
    return held?.id === session.id ? held : undefined;
  }

  /** The port's session as last read, while it lives. */
  lastRead(port: number): Session | undefined {
    const held = this.sessions.get(port);
    return held && isLive(held) ? held : undefined;
  }

  snapshot(): Session[] {
    this.sweep();
    return [...this.sessions.values()];
  }
}

/**
 * What keeps the Redis store serving while Redis does not answer: a local copy of the sessions,
 * an outage that is logged once however many requests fail, a probe that notices Redis is back,
 * and the write-back that ends the outage. Only what this instance made while Redis was away is
 * written back: a session the local copy merely read from Redis may have been reset elsewhere
 * since (a notice missed, a reconnect), and writing it back would undo that reset. Unless Redis
 * lost its data set meanwhile (restarted empty): then every session of the local copy goes back.
 */
export class RedisFallback {
  private readonly local = new LocalSessions();
  /** Rotations (replace, delete) made locally while Redis was away: they win over Redis on recovery. */
  private readonly acknowledged = new Map<number, LocalRotation>();
  /** Sessions traffic created from the local copy while Redis was away: written where Redis has none. */
  private readonly created = new Map<number, Session>();
  private outage = false;
  /** The outage was named by the store (a refused database): Redis going away since is not said yet. */
  private namedOnly = false;
  /** What the outage is, for the answers that refuse a rotation during it (the log says it once). */
  private cause: OutageCause = 'away';
  private outageCount = 0;
  private recovering = false;
  private probe: NodeJS.Timeout | undefined;
  private closed = false;
  /** The mark of the data set the local copy was read from (undefined: none read yet). */
  private dataSet: string | undefined;
  /** The outage whose ACL refusal was logged (one line per outage). */
  private aclLogged = 0;

  constructor(
    private readonly redis: RedisConnection,
    private readonly log: Logger,
  ) {}

  /**
   * Runs `remote` unless Redis is known to be down; uses the local copy if Redis cannot be
   * used. A command Redis refused for its own reasons fails this call only: one port's bad key
   * must not send every port to local memory. `fromLocal`'s `sent`: this call's own command
   * went out and got no answer (a timeout, a broken connection): Redis may have taken it. (One
   * Redis answered with a refusal, out of memory or read-only, was not taken.)
   */
  async either<T>(remote: () => Promise<T>, fromLocal: (local: SessionStore, sent: boolean) => Promise<T>): Promise<T> {
    if (this.closed) throw new StoreClosedError('redis');
    if (!this.outage) {
      try {
        return await remote();
      } catch (error) {
        if (this.closed) throw new StoreClosedError('redis');
        if (!startsOutage(error)) throw error;
        this.startOutage(error as Error);
        return fromLocal(this.local, replyCode(error) === undefined);
      }
    }
    return fromLocal(this.local, false);
  }

  /**
   * A rotation served from the local copy during an outage (one traffic made: a login's new
   * parameters, a pool member cooling down; the APIs' rotations are refused meanwhile, see
   * ChangeOptions): requests went out on it, so on recovery it is written over what Redis holds
   * instead of yielding to it.
   */
  acknowledgedLocally<T>(port: number, session: Session | undefined, apply: () => Promise<T>): Promise<T> {
    this.created.delete(port);
    this.acknowledged.set(port, session ?? { reset: true, ended: this.local.lastRead(port) });
    return apply();
  }

  /** getOrCreate served from the local copy: a session made here is written back on recovery. */
  createLocally(port: number, create: () => Session): Promise<Session> {
    return this.local.getOrCreate(port, () => {
      const session = create();
      this.created.set(port, session);
      return session;
    });
  }

  /**
   * A session whose create script was sent but got no answer: Redis may still store it, so the
   * local copy takes that very session (Redis told us the port had none): whichever side wins
   * on recovery, the port keeps one id.
   */
  adopt(session: Session): Session {
    // Two first requests at once each sent a script of their own: the first one adopted is the
    // port's, here as in Redis (its script came first, and the later one finds the key taken).
    const made = this.created.get(session.port);
    const already = made && this.local.stillHolding(made);
    if (already) return already;
    this.local.remember(session.port, session);
    this.created.set(session.port, session);
    return session;
  }

  /** Another instance changed the port's session: what the local copy held for it is stale. */
  forget(port: number): void {
    this.local.remember(port, undefined);
    this.created.delete(port);
    // A rotation elsewhere, later than one this instance acknowledged during its outage: the
    // later one stands; written back on recovery, ours would undo it.
    this.acknowledged.delete(port);
  }

  /** Notes which data set Redis holds, once it answers at start: recovery compares with it. */
  async noteDataSet(): Promise<void> {
    this.dataSet = await this.redis.dataSetMark();
  }

  /** True while Redis is away and sessions are served from the local copy. */
  get inOutage(): boolean {
    return this.outage;
  }

  /** What the outage is: Redis away, or refusing the URL's login, its user's commands, its database. */
  get outageCause(): OutageCause {
    return this.cause;
  }

  /** Outages begun since start. */
  get outages(): number {
    return this.outageCount;
  }

  /** The port's live session as this instance last read it from Redis (or made it). */
  lastRead(port: number): Session | undefined {
    return this.local.lastRead(port);
  }

  /** Records what Redis answered for a port (undefined: no live session there). */
  remember(port: number, session: Session | undefined): void {
    this.local.remember(port, session);
  }

  /** Serves from local memory from now on; `named`: the caller has logged the cause already. */
  startOutage(error: Error, named = false): void {
    if (this.closed) return;
    if (this.outage) {
      // What the outage is now, for the answers: Redis restarted with another password, a login
      // refused and then Redis gone. (A bare close says nothing: a refused login closes too.)
      if ((error as NodeJS.ErrnoException).code !== undefined || replyCode(error) !== undefined) this.cause = causeOf(error, named);
      // An outage the store named (a refused database), then Redis itself going away: said once.
      if (this.namedOnly && !named) {
        this.namedOnly = false;
        this.logOutage(error);
      }
      return;
    }
    this.outage = true;
    this.outageCount++;
    // (A refused database: logged by the store, with the server's answer.)
    this.namedOnly = named;
    this.cause = causeOf(error, named);
    if (!named) this.logOutage(error);
    this.probe = setInterval(() => void this.tryRecover(), RECOVERY_PROBE_MS);
    this.probe.unref();
  }

  private logOutage(error: Error): void {
    // A refused login is no network trouble: named as what it is, the operator fixes the URL.
    if (refusedLogin(error)) {
      this.log.error(
        { key: 'SessionStore.RedisUrl', err: error.message },
        'Redis refused the login of SessionStore.RedisUrl (user name or password): serving sessions from local memory until it is accepted',
      );
    } else if (refusedByAcl(error)) {
      this.aclRefusal(error);
    } else {
      this.log.error({ err: error.message }, 'Redis is unreachable: serving sessions from local memory until it is back');
    }
  }

  async tryRecover(): Promise<void> {
    if (!this.outage || this.recovering || this.closed || !this.redis.isReady()) return;
    this.recovering = true;
    try {
      await this.redis.ping();
      const mark = await this.redis.dataSetMark();
      const dataSetLost = this.dataSet !== undefined && mark !== this.dataSet;
      this.dataSet = mark;
      // Redis lost its data: what the local copy read from it is gone there, and goes back too.
      if (dataSetLost) for (const session of this.local.snapshot()) if (!this.created.has(session.port)) this.created.set(session.port, session);
      const rotations = await this.writeBackRotations();
      const { written, keptFromRedis } = await this.writeBackCreated();
      // No await since the last write-back round found nothing left: nothing made meanwhile is missed.
      if (this.acknowledged.size > 0) return; // a rotation came in meanwhile: next probe
      this.outage = false;
      clearInterval(this.probe);
      this.log.info({ written, keptFromRedis, rotations, dataSetLost }, 'Redis is back: local sessions reconciled');
    } catch (error) {
      // A user's ACL refusing what the recovery needs is no network trouble: said once, as such.
      // Redis answers again, but refuses the login or what recovery needs: that is the outage now.
      if (refusedByAcl(error) || refusedLogin(error)) this.cause = causeOf(error as Error, false);
      if (refusedByAcl(error)) this.aclRefusal(error as Error);
      // Still away: the probe or the next 'ready' tries again.
      this.log.debug({ err: (error as Error).message }, 'Redis not back yet');
    } finally {
      this.recovering = false;
    }
  }

  /**
   * Stops serving. Rotations made during an outage still only in memory get one last try (each
   * command bounded by the command timeout); if Redis refuses it, close rejects naming the ports
   * and ids lost, so that the stop is reported failed. Sessions traffic created
   * meanwhile are tried too, but losing them only means new ids, as after a crash.
   */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.probe);
    await this.local.close();
    // A connection whose SELECT was refused would write into database 0: another data set.
    const usable = this.redis.isReady();
    if (this.acknowledged.size > 0) {
      const unsaved = [...this.acknowledged].map(([port, rotation]) => `port ${port} (${'reset' in rotation ? 'reset' : `session ${rotation.id}`})`);
      try {
        if (!usable) throw new Error('Redis is not usable (unreachable, or its database refused)');
        await this.writeBackRotations();
      } catch (error) {
        throw new StickyportError('STORE_UNAVAILABLE', `Redis did not take the rotations made while it was away: ${unsaved.join(', ')}: ${(error as Error).message}`, { cause: error });
      }
    }
    if (!usable) {
      if (this.created.size > 0) this.log.warn({ ports: [...this.created.keys()] }, 'sessions made while Redis was away were not saved');
      return;
    }
    await this.writeBackCreated().catch((error: Error) => this.log.warn({ err: error.message, ports: [...this.created.keys()] }, 'sessions made while Redis was away were not saved'));
  }

  /**
   * A user whose ACL allows only some of the store's keys or commands, logged once per outage:
   * the store uses every key under SessionStore.KeyPrefix, scripts, pub/sub and PING.
   */
  private aclRefusal(error: Error): void {
    if (this.aclLogged === this.outageCount) return;
    this.aclLogged = this.outageCount;
    this.log.error(
      { key: 'SessionStore.RedisUrl', err: error.message },
      'Redis refused a command or key to the user of SessionStore.RedisUrl (its ACL): serving sessions from local memory until it is allowed; the user needs every key under SessionStore.KeyPrefix, its changes channel, and the read, write, scripting, pub/sub and connection (PING) commands',
    );
  }

  /** The rotations acknowledged during the outage, written over Redis. */
  private async writeBackRotations(): Promise<number> {
    if (this.acknowledged.size === 0) return 0;
    const changes = new Map(this.acknowledged);
    const count = await this.redis.overwrite(changes);
    // Only those written: a rotation acknowledged while this write ran stays for the next round.
    for (const [port, rotation] of changes) if (this.acknowledged.get(port) === rotation) this.acknowledged.delete(port);
    return count;
  }

  /** Repeats until a round finds nothing new: requests keep creating sessions meanwhile. */
  private async writeBackCreated(): Promise<WriteBackCounts> {
    let written = 0;
    let keptFromRedis = 0;
    while (this.created.size > 0) {
      const todo = new Map(this.created);
      // One the port no longer holds (rotated, expired, dropped) has nothing left to save; one
      // it still holds goes back as the local copy has it now (an identity check may have
      // added its exit since: a copy of the same session, which must not count as another).
      const held = [...todo.values()].map((session) => this.local.stillHolding(session)).filter((session) => session !== undefined);
      const answer = await this.redis.writeIfAbsent(held);
      written += answer.written;
      keptFromRedis += answer.held.length;
      for (const kept of answer.held) this.takeFromRedis(kept);
      for (const [port, session] of todo) if (this.created.get(port) === session) this.created.delete(port);
    }
    return { written, keptFromRedis };
  }

  /**
   * Redis held another value where a session made here was written back: Redis wins, and the
   * local copy takes it, unless the port moved on while the write was on its way. A rotation
   * the API answered from the local copy meanwhile must stay the port's (it is written over
   * Redis next); so must anything else the port holds now that is not the session sent.
   */
  private takeFromRedis({ sent, held }: HeldByRedis): void {
    if (this.acknowledged.has(sent.port) || !this.local.stillHolding(sent)) return;
    this.local.remember(sent.port, held);
    if (held?.id === sent.id) return;
    // Traffic of this instance left with the local id: the switch is logged like a rotation.
    const reason = held ? 'Redis held another session after the outage' : 'the port was reset elsewhere during the outage';
    this.log.info({ port: sent.port, sessionId: held?.id, previousId: sent.id, reason }, 'session replaced');
  }
}

/** Why Redis serves this instance no more: gone, or answering with a refusal the operator must fix. */
export type OutageCause = 'away' | 'login' | 'acl' | 'database';

/** `named`: the store has said the database was refused (a refused login may come as that too). */
function causeOf(error: Error, named: boolean): OutageCause {
  return refusedLogin(error) ? 'login' : refusedByAcl(error) ? 'acl' : named ? 'database' : 'away';
}
