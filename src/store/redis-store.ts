import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { Redis } from 'ioredis';
import type { Logger } from '../logging/logger.js';
import { isLive, type Session, type SessionIdRule } from '../session/session.js';
import { RemoteChanges, type RemoteChangeListener } from './redis-changes.js';
import { refusedLogin, replyCode, StoreConflictError } from './redis-errors.js';
import { RedisFallback, type HeldByRedis, type LocalRotation, type OutageCause } from './redis-fallback.js';
import type { ChangeOptions, SessionStore, StoreHealth } from './session-store.js';
import { StickyportError } from '../errors.js';
import { StoredValues } from './stored-values.js';

export interface RedisStoreOptions {
  readonly url: string;
  readonly keyPrefix: string;
  readonly log: Logger;
  /** What a stored id must look like (Session.IdLength, Session.IdAlphabet): others are replaced. */
  readonly idRule: SessionIdRule;
}

// A session's JSON is well under 1 KB. Values are read only this far (GETRANGE): a value of
// hundreds of MB at one port's key took longer than commandTimeout to read, and the instance
// took Redis for down. Past it, a value is no session.
const MAX_VALUE_BYTES = 64 * 1024;

// What a script compares with what the caller read: the key's first MAX_VALUE_BYTES + 1 bytes,
// as the caller's GETRANGE read them (false when there is no key, or it is not a string).
const READ_CURRENT = `
local current = false
if redis.call('EXISTS', KEYS[1]) == 1 then
  local read = redis.pcall('GETRANGE', KEYS[1], 0, ${MAX_VALUE_BYTES})
  if type(read) == 'string' then current = read end
end`;

// Stores ARGV[1] (with the SET options from ARGV[3] on) unless the key changed since the caller
// read ARGV[2] ('' when it read nothing); else returns what the key holds now. The caller judges
// the value it read (fields, id rule, expiry by its own clock: Redis expires keys a few ms late),
// so the script never parses a value: whatever someone wrote there, it cannot raise. A key of
// another type holds no session either: SET replaces it.
const SET_UNLESS_CHANGED = `${READ_CURRENT}
if type(current) == 'string' and current ~= ARGV[2] then
  return current
end
redis.call('SET', KEYS[1], ARGV[1], unpack(ARGV, 3))
return ARGV[1]`;

// Stores ARGV[1] (with the SET options from ARGV[3] on) only while the key holds exactly ARGV[2];
// else returns what it holds now (nil when nothing): an amendment never brings back a session
// that was deleted or replaced meanwhile.
const SET_IF_UNCHANGED = `${READ_CURRENT}
if current ~= ARGV[2] then
  if type(current) == 'string' then return current end
  return false
end
redis.call('SET', KEYS[1], ARGV[1], unpack(ARGV, 3))
return ARGV[1]`;

// What a reset leaves at the port's key instead of deleting it, `{"reset":true,"ended":"<id>"}`:
// no session, and, for as long as the session it ended would have lived, a key that names that
// session. A DEL left the key free, and an instance that took Redis for emptied when it came
// back (a Redis restarted empty, a mark read before a flush) wrote the ended session there: the
// reset was undone. A write-back yields to a mark only for the session the mark ended; a session
// made since (by traffic during an outage) is written over it. (An older instance reads the mark
// as a bad value: replaced, and logged once.)
const RESET_MARK_START = '{"reset":true';
const RESET_MARK_START_BYTES = Buffer.from(RESET_MARK_START);
const RESET_MARK = /^\{"reset":true(?:,"ended":"([A-Za-z0-9_]*)")?\}$/;
// What an id may be to go into a mark as it is (Session.IdAlphabet's characters).
const SAFE_ID = /^[A-Za-z0-9_]+$/;

/**
 * RESET_PORT's ARGV[2] and ARGV[3] for a reset that ended `ended`: the id and remaining life its
 * mark gets should the key be gone (Redis emptied since the session was read). None for a
 * session already over, or one whose id could not be written into the mark as it is.
 */
function endedArgs(ended: Session | undefined): [id: string, ttlMs: string] {
  const ttl = ended && ttlArgs(ended);
  return ended && ttl && SAFE_ID.test(ended.id) ? [ended.id, ttl[1] ?? ''] : ['', ''];
}
// What setUnlessChanged is told was read at a key that held nothing.
const NOTHING: Buffer = Buffer.alloc(0);

// Puts a reset mark (ARGV[1] is its start) at the port's key, naming the session it held, for as
// long as that would have lived (for good when it had no expiry); returns 1 when the key held
// something other than a mark, 0 when it held nothing (or a mark, or a value expiring this very
// millisecond). A key of another type is replaced too; a value that names no id gives a mark
// that names none, which every write-back yields to. A key that is gone (Redis emptied since)
// gets the mark of the session the caller last read, ARGV[2] ('' for none), for ARGV[3] ms
// ('' for good).
const RESET_PORT = `
local ttl = redis.call('PTTL', KEYS[1])
if ttl == -2 then
  if ARGV[2] == '' then return 0 end
  local mark = ARGV[1] .. ',"ended":"' .. ARGV[2] .. '"}'
  if ARGV[3] ~= '' then redis.call('SET', KEYS[1], mark, 'PX', ARGV[3]) else redis.call('SET', KEYS[1], mark) end
  return 0
end
if ttl == 0 then return 0 end
local held = redis.pcall('GETRANGE', KEYS[1], 0, ${MAX_VALUE_BYTES})
if type(held) == 'string' and string.sub(held, 1, #ARGV[1]) == ARGV[1] then return 0 end
local ended = ''
if type(held) == 'string' then
  local ok, value = pcall(cjson.decode, held)
  if ok and type(value) == 'table' and type(value.id) == 'string' and string.match(value.id, '^[%w_]+$') then ended = value.id end
end
local mark = ARGV[1] .. ',"ended":"' .. ended .. '"}'
if ttl > 0 then redis.call('SET', KEYS[1], mark, 'PX', ttl) else redis.call('SET', KEYS[1], mark) end
return 1`;

// A mark is 16 hex characters; a longer string at the key is none of ours.
const MAX_MARK_BYTES = 64;

// The mark of Redis's data set at <prefix>data-set, made by the first instance that asks: it
// lives as long as Redis keeps its data. An instance back from an outage that finds another
// mark (or a new one) knows Redis lost its data, not that another instance reset the ports.
// Returns { mark, what the key held when that was no mark ('' when it was one, or none) }. A key
// of another type (a GET there raised WRONGTYPE, which every caller took for Redis being down,
// for good) or a string no mark can be is a lost mark, replaced like a missing one.
const DATA_SET_MARK = `
local held = redis.call('TYPE', KEYS[1]).ok
if held == 'string' then
  local length = redis.call('STRLEN', KEYS[1])
  if length > 0 and length <= ${MAX_MARK_BYTES} then return { redis.call('GET', KEYS[1]), '' } end
  held = length == 0 and 'an empty string' or 'a string of ' .. length .. ' bytes'
elseif held == 'none' then
  held = ''
else
  held = 'a ' .. held
end
redis.call('SET', KEYS[1], ARGV[1])
return { ARGV[1], held }`;

// Rounds of read-then-write when another instance rewrites the key in between each time.
const MAX_CREATE_ROUNDS = 3;

// The Buffer forms (ioredis defines one per script): a value is compared byte for byte. Read as
// text, a value that is not UTF-8 would come back altered, never match, and stick for good.
type ScriptedRedis = Redis & {
  setUnlessChangedBuffer(key: string, ...args: Array<string | Buffer>): Promise<Buffer>;
  setIfUnchangedBuffer(key: string, ...args: Array<string | Buffer>): Promise<Buffer | null>;
  dataSetMark(key: string, mark: string): Promise<[mark: string, replaced: string]>;
  resetPort(key: string, mark: string, lastRead: string, lastReadTtlMs: string): Promise<number>;
};

/**
 * Sessions in Redis, shared by every stickyport instance using the same URL and key prefix:
 * one key per port holding the session's JSON, with the session's expiry as the key's TTL.
 * If Redis stops answering, requests go on with a local copy (see RedisFallback), and when it
 * is back the sessions made locally meanwhile (all local ones, when Redis lost its data) are
 * written back where Redis has none for the port. Replaces and
 * deletes are announced to the other instances at once (see RemoteChanges).
 */
export class RedisSessionStore implements SessionStore {
  readonly kind = 'redis';
  readonly shared = true;
  private readonly client: ScriptedRedis;
  private readonly fallback: RedisFallback;
  private readonly log: Logger;
  private readonly prefix: string;
  private readonly values: StoredValues;
  private readonly changes: RemoteChanges;
  private closing: Promise<void> | undefined;
  /** The server's answer to SELECT on this connection (the URL's database), when it refused it. */
  private refusedDatabase: string | undefined;

  private constructor(options: RedisStoreOptions) {
    this.log = options.log.child({ redis: redisEndpoint(options.url) });
    this.prefix = `${options.keyPrefix}port:`;
    this.values = new StoredValues(options.idRule, this.log);
    this.fallback = new RedisFallback(
      {
        // A connection whose SELECT was refused is on database 0: never write there.
        isReady: () => this.client.status === 'ready' && this.refusedDatabase === undefined,
        ping: () => this.client.ping(),
        writeIfAbsent: (sessions) => this.writeIfAbsent(sessions),
        overwrite: (changes) => this.overwrite(changes),
        dataSetMark: () => this.dataSetMark(`${options.keyPrefix}data-set`),
      },
      this.log,
    );
    this.client = new Redis(options.url, {
      // Fail fast while Redis is away: the request is served locally instead of waiting.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      connectTimeout: 1_000,
      commandTimeout: 1_000,
      retryStrategy: (attempt) => Math.min(100 * 2 ** (attempt - 1), 1_000),
    }) as ScriptedRedis;
    this.client.defineCommand('setUnlessChanged', { numberOfKeys: 1, lua: SET_UNLESS_CHANGED });
    this.client.defineCommand('setIfUnchanged', { numberOfKeys: 1, lua: SET_IF_UNCHANGED });
    this.client.defineCommand('dataSetMark', { numberOfKeys: 1, lua: DATA_SET_MARK });
    this.client.defineCommand('resetPort', { numberOfKeys: 1, lua: RESET_PORT });
    this.changes = new RemoteChanges(this.client, `${options.keyPrefix}changes`, this.log);
    // Without an 'error' listener, ioredis errors would crash the process.
    this.client.on('error', (error: Error) => {
      if (!isSelectRefusal(error)) return this.fallback.startOutage(error);
      this.databaseRefused(error);
      // Named as the refused database it is: Redis answered, it is not unreachable.
      this.fallback.startOutage(error, true);
    });
    // Each connection SELECTs anew (ioredis sends it before anything else, the answer comes before 'ready').
    this.client.on('connect', () => (this.refusedDatabase = undefined));
    // While the database is refused, connections close and reconnect to be refused again: that is
    // the refusal already named. Redis going away shows as the reconnects' errors.
    this.client.on('close', () => this.fallback.startOutage(new Error('connection to Redis closed'), this.refusedDatabase !== undefined));
    this.client.on('ready', () => void this.fallback.tryRecover());
  }

  /** Connects (or gives up for now, serving locally until Redis answers) before returning. */
  static async open(options: RedisStoreOptions): Promise<RedisSessionStore> {
    const store = new RedisSessionStore(options);
    // Resolves on 'ready'; rejects on the first error or after the timeout: either way, go on.
    await once(store.client, 'ready', { signal: AbortSignal.timeout(1_500) }).catch(() => undefined);
    if (store.client.status !== 'ready') store.fallback.startOutage(new Error('Redis did not answer at start-up'), store.refusedDatabase !== undefined);
    else {
      await store.fallback.noteDataSet().catch((error: Error) => store.fallback.startOutage(error));
      await store.compareIdRule(options.keyPrefix, options.idRule);
      await store.adviseOnDurability();
    }
    return store;
  }

  /**
   * A `/session/new` or `/session/reset` is answered once Redis has acknowledged it, so it is as
   * durable as Redis keeps its writes: by default (snapshots only) a Redis crash can bring back
   * the session it replaced. Said once at start, with what to set; a server that does not let
   * this user read its configuration (managed services, ACLs) is not judged.
   */
  private async adviseOnDurability(): Promise<void> {
    try {
      const pairs = [...((await this.client.config('GET', 'append*')) as string[]), ...((await this.client.config('GET', 'save')) as string[])];
      const setting = (name: string): string | undefined => {
        for (let i = 0; i + 1 < pairs.length; i += 2) if (pairs[i] === name) return pairs[i + 1];
        return undefined;
      };
      const appendonly = setting('appendonly');
      const appendfsync = setting('appendfsync');
      if (appendonly === 'yes' && appendfsync === 'always') return;
      const save = setting('save');
      let msg: string;
      if (appendonly === 'yes') {
        msg = 'Redis syncs its append-only file to disk once a second or less (appendfsync): a session rotation it acknowledged in the last moments can be undone by a Redis crash; for rotations that survive one, set appendfsync always';
      } else if (save === '') {
        msg = 'Redis keeps nothing on disk (appendonly no, no save points): a Redis restart loses every session, and undoes every rotation it acknowledged; for rotations that survive one, set appendonly yes and appendfsync always';
      } else {
        msg = 'Redis keeps its data on disk by snapshots only (appendonly no): a session rotation it acknowledged since the last snapshot can be undone by a Redis crash; for rotations that survive one, set appendonly yes and appendfsync always';
      }
      this.log.warn({ appendonly, appendfsync, save }, msg);
    } catch (error) {
      this.log.debug({ err: (error as Error).message }, 'could not read the Redis persistence settings');
    }
  }

  /**
   * Leaves this instance's id rule at <prefix>id-rule and warns when another instance left a
   * different one: each would take the other's ids for unusable and replace them on every
   * request, so the port's identity would change with every request (a rolling restart that
   * changes Session.IdLength or Session.IdAlphabet does this until the last old instance stops).
   */
  private async compareIdRule(keyPrefix: string, rule: SessionIdRule): Promise<void> {
    const key = `${keyPrefix}id-rule`;
    const ours = `${rule.idLength}:${rule.idAlphabet}`;
    try {
      const theirs = await this.client.getset(key, ours);
      if (theirs === null || theirs === ours) return;
      const [length, ...alphabet] = theirs.split(':');
      this.log.warn(
        { key, idLength: rule.idLength, idAlphabet: rule.idAlphabet, otherIdLength: length?.slice(0, 12), otherIdAlphabet: alphabet.join(':').slice(0, 128) },
        'another instance on this Redis and KeyPrefix made ids by another Session.IdLength or Session.IdAlphabet: while both run, each replaces the other\'s ids on every request; give every instance sharing a KeyPrefix the same Session settings',
      );
    } catch (error) {
      // A key of another type there (written by hand), or a user without it: the comparison is only advice.
      this.log.debug({ key, err: (error as Error).message }, 'could not compare the session id rule');
    }
  }

  health(): StoreHealth {
    return { state: this.fallback.inOutage ? 'fallback' : 'up', outages: this.fallback.outages };
  }

  get(port: number): Promise<Session | undefined> {
    return this.fallback.either(async () => {
      const found = this.sessionIn(port, await this.read(port));
      const session = found && isLive(found) ? found : undefined;
      this.fallback.remember(port, session);
      return session;
    }, (local) => local.get(port));
  }

  getOrCreate(port: number, create: () => Session): Promise<Session> {
    // One candidate for both paths: a create script that timed out may still run in Redis later,
    // and the port must then hold that same id here, not a second one made for the local copy.
    let candidate: Session | undefined;
    const once = (): Session => (candidate ??= create());
    return this.fallback.either(async () => {
      const session = await this.findOrCreate(port, once);
      this.fallback.remember(port, session);
      return session;
    }, async () => (candidate ? this.fallback.adopt(candidate) : this.fallback.createLocally(port, once)));
  }

  replace(session: Session, options?: ChangeOptions): Promise<Session> {
    return this.fallback.either(async () => {
      const key = this.key(session.port);
      const ttl = ttlArgs(session);
      if (ttl) await this.client.call('SET', key, JSON.stringify(session), ...ttl);
      else await this.client.del(key);
      this.fallback.remember(session.port, session);
      // Changes made while Redis is down stay local (the fallback path): nobody to tell.
      this.changes.announce(session.port);
      return session;
    }, (local, sent) => this.rotateLocally(session.port, session, options, sent, () => local.replace(session)));
  }

  amend(session: Session): Promise<Session | undefined> {
    return this.fallback.either(async () => {
      const amended = await this.amendUnlessRotated(session);
      if (amended) this.fallback.remember(session.port, amended);
      return amended;
    }, (local) => local.amend(session));
  }

  delete(port: number, options?: ChangeOptions): Promise<boolean> {
    return this.fallback.either(async () => {
      // The value is read in the same transaction and judged as a read is: a reset of garbage,
      // a hash or another port's session is no reset of a session (logged and counted as one).
      // The session this instance last read for the port goes in the mark should Redis have lost the key.
      const key = this.key(port);
      const batch = this.client.multi();
      batch.getrangeBuffer(key, 0, MAX_VALUE_BYTES);
      (batch as unknown as ScriptedRedis).resetPort(key, RESET_MARK_START, ...endedArgs(this.fallback.lastRead(port)));
      const replies = ((await batch.exec()) ?? []) as Array<[Error | null, unknown]>;
      if (replies.length !== 2) throw new Error('Redis ran no reset transaction');
      const [read, [resetError, reset]] = replies as [[Error | null, unknown], [Error | null, unknown]];
      if (resetError) throw resetError;
      const deleted = (reset as number) > 0 && this.sessionIn(port, this.readReply(port, read)) !== undefined;
      this.fallback.remember(port, undefined);
      this.changes.announce(port);
      return deleted;
    }, (local, sent) => this.rotateLocally(port, undefined, options, sent, () => local.delete(port)));
  }

  async list(): Promise<Session[]> {
    return this.fallback.either(async () => {
      const sessions: Session[] = [];
      // SCAN walks the keyspace in small steps; KEYS would block Redis for every other client.
      for await (const keys of this.client.scanStream({ match: `${escapeGlob(this.prefix)}*`, count: 200 })) {
        if ((keys as string[]).length === 0) continue;
        // GETRANGE, not MGET: a huge value is read only as far as a session could reach.
        const batch = this.client.pipeline();
        for (const key of keys as string[]) batch.getrangeBuffer(key, 0, MAX_VALUE_BYTES);
        const values = (await batch.exec()) ?? [];
        (keys as string[]).forEach((key, i) => {
          const port = Number(key.slice(this.prefix.length));
          // A key that names no port is not one of ours, whatever it holds.
          if (!Number.isInteger(port) || port < 1 || port > 65_535) return;
          const [error, value] = values[i] ?? [];
          // Another type at a port key (WRONGTYPE) holds no session, like a missing value; any
          // other error (a timeout) is Redis failing, and the fallback takes the call.
          if (error && replyCode(error) !== 'WRONGTYPE') throw error;
          const session = error ? undefined : this.sessionIn(port, (value as Buffer | undefined) ?? null);
          if (session && isLive(session)) sessions.push(session);
        });
      }
      return sessions;
    }, (local) => local.list());
  }

  /** Calls `listener` when another instance replaced or deleted a port's session (not for our own). */
  onRemoteChange(listener: RemoteChangeListener): void {
    this.changes.listen((port) => {
      // Whether or not this instance uses the port now: during a later outage it must not serve
      // (nor would it write back) a session another instance has replaced or reset.
      this.fallback.forget(port);
      listener(port);
    });
  }

  /** Rejects when what the session API answered during an outage could not be saved (see RedisFallback.close). */
  close(): Promise<void> {
    this.closing ??= (async () => {
      try {
        await this.fallback.close();
      } finally {
        this.changes.close();
        if (this.client.status === 'ready') await this.client.quit().catch(() => this.client.disconnect());
        else this.client.disconnect();
      }
    })();
    return this.closing;
  }

  /** Redis's data-set mark (see DATA_SET_MARK); one that was no mark is replaced, and logged. */
  private async dataSetMark(key: string): Promise<string> {
    const [mark, replaced] = await this.client.dataSetMark(key, randomBytes(8).toString('hex'));
    if (replaced) {
      // Once: the key holds a mark from now on. Instances that read the old one take Redis for
      // emptied at their next recovery, as after an eviction of the mark (see README).
      this.log.warn(
        { key, held: replaced },
        'the data-set mark in Redis was no mark: replaced it with a new one; instances that knew the old one write back the sessions Redis lacks at their next recovery',
      );
    }
    return mark;
  }

  /**
   * ioredis SELECTs the URL's database on connecting and only emits the refusal (a server with
   * fewer databases): its commands would then go to database 0, another data set. The store
   * stays in its outage instead, until a connection's SELECT succeeds.
   */
  private databaseRefused(error: Error): void {
    // NOAUTH: the login before it was refused, which started the outage and named it; said here
    // as a refused database, again at every reconnect, it hid the cause. The database may be fine.
    if (this.refusedDatabase === undefined && !refusedLogin(error)) {
      this.log.error(
        { key: 'SessionStore.RedisUrl', database: this.client.options.db, answer: error.message },
        'Redis refused the database of SessionStore.RedisUrl: serving sessions from local memory, never from another database',
      );
    }
    this.refusedDatabase = error.message;
  }

  /**
   * The port's live session, or `create()`'s stored in its place: absent, expired and unusable
   * values alike. The write happens only if the key still holds what was read, so instances
   * racing on a port agree on one session, and a bad value is replaced, never handed out.
   */
  private async findOrCreate(port: number, create: () => Session): Promise<Session> {
    const key = this.key(port);
    let seen = await this.read(port);
    let candidate: Session | undefined;
    for (let round = 0; round < MAX_CREATE_ROUNDS; round++) {
      const found = this.sessionIn(port, seen);
      if (found && isLive(found)) return found;
      candidate ??= create();
      const ttl = ttlArgs(candidate);
      if (!ttl) return candidate; // already over: nothing to share
      const json = Buffer.from(JSON.stringify(candidate));
      const stored = await this.client.setUnlessChangedBuffer(key, json, seen ?? '', ...ttl);
      if (stored.equals(json)) return candidate;
      seen = stored; // another instance wrote first: its value decides, if it can be used
    }
    throw new StoreConflictError(port);
  }

  /**
   * Writes `session` over the port's value only while that value is the same session (same
   * id, live): the write is conditional on the very value read, so a rotation another instance
   * makes in between wins. Not announced: the id did not change.
   */
  private async amendUnlessRotated(session: Session): Promise<Session | undefined> {
    const key = this.key(session.port);
    let seen = await this.read(session.port);
    for (let round = 0; round < MAX_CREATE_ROUNDS; round++) {
      const found = this.sessionIn(session.port, seen);
      if (!found || !isLive(found) || found.id !== session.id || seen === null) return undefined;
      const ttl = ttlArgs(session);
      if (!ttl) return undefined;
      const json = Buffer.from(JSON.stringify(session));
      const stored = await this.client.setIfUnchangedBuffer(key, json, seen, ...ttl);
      if (stored?.equals(json)) return session;
      seen = stored;
    }
    return undefined;
  }

  /**
   * The port's raw value, as bytes, up to MAX_VALUE_BYTES + 1 of them; null when there is none
   * (or it is empty), or when the key is not a string at all.
   */
  private async read(port: number): Promise<Buffer | null> {
    return this.readReply(port, await this.client.getrangeBuffer(this.key(port), 0, MAX_VALUE_BYTES).then((value) => [null, value] as const, (error: Error) => [error, null] as const));
  }

  /** A GETRANGE of a port's key (alone, or in a transaction): its value, null for none or one of another type (reported). */
  private readReply(port: number, [error, value]: readonly [Error | null, unknown]): Buffer | null {
    if (error) {
      if (replyCode(error) !== 'WRONGTYPE') throw error;
      this.values.report(port, '(a key that is not a string)', 'wrong Redis type');
      return null;
    }
    const held = value as Buffer;
    if (held.length > MAX_VALUE_BYTES) this.values.report(port, '(a value over 64 KiB)', 'too large');
    return held.length === 0 ? null : held;
  }

  /**
   * Rotations acknowledged while Redis was away, written over whatever Redis holds (SET or DEL)
   * and announced to the other instances: an answered /session/new must not be undone.
   */
  private async overwrite(changes: ReadonlyMap<number, LocalRotation>): Promise<number> {
    const batch = this.client.pipeline();
    for (const [port, rotation] of changes) {
      // A session already over by now leaves a reset's mark too (naming nothing).
      const ttl = 'reset' in rotation ? undefined : ttlArgs(rotation);
      if (ttl) batch.call('SET', this.key(port), JSON.stringify(rotation), ...ttl);
      else (batch as unknown as ScriptedRedis).resetPort(this.key(port), RESET_MARK_START, ...endedArgs('reset' in rotation ? rotation.ended : undefined));
    }
    for (const [error] of (await batch.exec()) ?? []) if (error) throw error;
    for (const port of changes.keys()) this.changes.announce(port);
    return changes.size;
  }

  /**
   * Each session where Redis has no value for its port; where it has one, what it holds is
   * answered (the fallback decides whether the local copy takes it: the port may have moved on
   * while this write was on its way).
   */
  private async writeIfAbsent(sessions: readonly Session[]): Promise<{ written: number; held: HeldByRedis[] }> {
    let round = sessions.flatMap((session) => {
      const ttl = ttlArgs(session);
      return ttl ? [{ session, json: Buffer.from(JSON.stringify(session)), ttl, seen: NOTHING }] : [];
    });
    let written = 0;
    const held: HeldByRedis[] = [];
    // Two rounds at most: where a reset's mark ended another session than the one sent, the
    // write goes again over that very mark (a change since then wins).
    for (let attempt = 0; attempt < 2 && round.length > 0; attempt++) {
      const batch = this.client.pipeline() as unknown as ScriptedRedis;
      for (const { session, json, ttl, seen } of round) batch.setUnlessChangedBuffer(this.key(session.port), json, seen, ...ttl);
      const replies = (await (batch as unknown as ReturnType<Redis['pipeline']>).exec()) ?? [];
      const overMarks: typeof round = [];
      round.forEach((pending, i) => {
        const [error, reply] = replies[i] ?? [new Error('no reply')];
        if (error) throw error;
        const value = reply as Buffer;
        if (value.equals(pending.json)) return void written++;
        const ended = markEnded(value);
        if (attempt === 0 && ended && ended !== pending.session.id) return void overMarks.push({ ...pending, seen: value });
        const found = this.sessionIn(pending.session.port, value);
        held.push({ sent: pending.session, held: found && isLive(found) ? found : undefined });
      });
      round = overMarks;
    }
    return { written, held };
  }

  /**
   * A rotation (`session`, or a reset: undefined) Redis cannot take now: made in the local copy
   * and written back on recovery, unless somebody is told of it and Redis is known to be away
   * (`sent`: its own command got no answer, so Redis may have taken it): refused then.
   */
  private rotateLocally<T>(port: number, session: Session | undefined, options: ChangeOptions | undefined, sent: boolean, apply: () => Promise<T>): Promise<T> {
    if (options?.acknowledged && !sent) return Promise.reject(notKeptWhileAway(this.fallback.outageCause));
    return this.fallback.acknowledgedLocally(port, session, apply);
  }

  /** The session in a port's raw value; undefined for none, a reset's mark, or a value that is no session (logged once). */
  private sessionIn(port: number, value: Buffer | null): Session | undefined {
    if (value !== null && markEnded(value) !== undefined) return undefined;
    return this.values.fromJson(port, asText(value));
  }

  private key(port: number): string {
    return `${this.prefix}${port}`;
  }
}

/** The id a reset's mark names as the session it ended ('' for none); undefined when `value` is no mark. */
function markEnded(value: Buffer): string | undefined {
  if (value.length > 128 || !value.subarray(0, RESET_MARK_START_BYTES.length).equals(RESET_MARK_START_BYTES)) return undefined;
  const mark = RESET_MARK.exec(value.toString('latin1'));
  return mark ? (mark[1] ?? '') : undefined;
}

/**
 * An acknowledged rotation while Redis is known to be away: kept in this process only, a crash
 * would undo it (the restarted instance reads Redis), and the other instances would go on with
 * the old id. (One whose own command went out and found Redis gone is another matter: Redis may
 * have taken it, a Redis frozen for a moment does so later. Refused, it would come true anyway,
 * unannounced; it is kept as before, answered, and written over Redis when it is back.)
 */
function notKeptWhileAway(cause: OutageCause): StickyportError {
  const [what, until] = OUTAGE_WORDS[cause];
  return new StickyportError(
    'STORE_UNAVAILABLE',
    `${what}, so the rotation was not made: kept in this process only, a crash would undo it and the other instances would not know it; ask again ${until}`,
    { status: 503 },
  );
}

// What a refused rotation says of the outage: a refusal is named, asking again will not help until it is fixed.
const OUTAGE_WORDS: Record<OutageCause, readonly [string, string]> = {
  away: ['Redis is unreachable', 'when Redis answers'],
  login: ['Redis refused the login of SessionStore.RedisUrl (user name or password)', 'once it takes that login (the log names the key)'],
  acl: ['Redis refused a command or key to the user of SessionStore.RedisUrl (its ACL)', 'once the ACL allows it (the log has its answer)'],
  database: ['Redis refused the database of SessionStore.RedisUrl', 'once it takes that database (the log has its answer)'],
};

/**
 * A stored value as text, for parsing only: bytes that are not UTF-8 then fail to parse. One
 * cut at MAX_VALUE_BYTES + 1 (reported when read) is no session.
 */
function asText(value: Buffer | null): string | null {
  return value === null || value.length === 0 || value.length > MAX_VALUE_BYTES ? null : value.toString('utf8');
}

/** ['PX', ms] for a session that expires, [] for one that never does, undefined once it is over. */
function ttlArgs(session: Session): string[] | undefined {
  if (session.expiresAt === null) return [];
  // Rounded down: Redis drops the key no later than the session's own expiry.
  const ms = Math.floor(session.expiresAt - Date.now());
  return ms > 0 ? ['PX', String(ms)] : undefined;
}

function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

/** The server's answer to the SELECT ioredis sends on connecting. */
function isSelectRefusal(error: Error): boolean {
  return (error as Error & { command?: { name?: string } }).command?.name === 'select';
}

/** host:port of a Redis URL, never its password. */
function redisEndpoint(url: string): string {
  return URL.canParse(url) ? new URL(url).host : '(invalid URL)';
}
