import { once } from 'node:events';
import { Redis } from 'ioredis';
import type { Logger } from '../logging/logger.js';
import { isLive, type Session } from '../session/session.js';
import { reviveSession } from './file-store.js';
import { MemorySessionStore } from './memory-store.js';
import { StoreClosedError, type SessionStore } from './session-store.js';

export interface RedisStoreOptions {
  readonly url: string;
  readonly keyPrefix: string;
  readonly log: Logger;
}

// Sets the key unless it exists, then returns what the key holds: one round trip, no race.
const SET_IF_ABSENT = `
if redis.call('SET', KEYS[1], ARGV[1], 'NX', unpack(ARGV, 2)) then return ARGV[1] end
return redis.call('GET', KEYS[1])`;

type ScriptedRedis = Redis & { setIfAbsent(key: string, ...args: string[]): Promise<string | null> };

// While Redis is down, how often to check whether it answers again (besides ioredis's 'ready').
const RECOVERY_PROBE_MS = 500;

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
 * Sessions in Redis, shared by every stickyport instance using the same URL and key prefix:
 * one key per port holding the session's JSON, with the session's expiry as the key's TTL.
 * If Redis stops answering, requests go on with the local copy (logged once per outage), and
 * when it is back the local sessions are written back where Redis has none for the port.
 */
export class RedisSessionStore implements SessionStore {
  readonly kind = 'redis';
  readonly shared = true;
  private readonly client: ScriptedRedis;
  private readonly local = new LocalSessions();
  private readonly log: Logger;
  private readonly prefix: string;
  private outage = false;
  private recovering = false;
  private probe: NodeJS.Timeout | undefined;
  private closed = false;
  private closing: Promise<void> | undefined;

  private constructor(options: RedisStoreOptions) {
    this.log = options.log.child({ redis: redisEndpoint(options.url) });
    this.prefix = `${options.keyPrefix}port:`;
    this.client = new Redis(options.url, {
      // Fail fast while Redis is away: the request is served locally instead of waiting.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      connectTimeout: 1_000,
      commandTimeout: 1_000,
      retryStrategy: (attempt) => Math.min(100 * 2 ** (attempt - 1), 1_000),
    }) as ScriptedRedis;
    this.client.defineCommand('setIfAbsent', { numberOfKeys: 1, lua: SET_IF_ABSENT });
    // Without an 'error' listener, ioredis errors would crash the process.
    this.client.on('error', (error: Error) => this.startOutage(error));
    this.client.on('close', () => this.startOutage(new Error('connection to Redis closed')));
    this.client.on('ready', () => void this.tryRecover());
  }

  /** Connects (or gives up for now, serving locally until Redis answers) before returning. */
  static async open(options: RedisStoreOptions): Promise<RedisSessionStore> {
    const store = new RedisSessionStore(options);
    // Resolves on 'ready'; rejects on the first error or after the timeout: either way, go on.
    await once(store.client, 'ready', { signal: AbortSignal.timeout(1_500) }).catch(() => undefined);
    if (store.client.status !== 'ready') store.startOutage(new Error('Redis did not answer at start-up'));
    return store;
  }

  get(port: number): Promise<Session | undefined> {
    return this.either(async () => {
      const found = reviveJson(await this.client.get(this.key(port)));
      const session = found && isLive(found) ? found : undefined;
      this.local.remember(port, session);
      return session;
    }, () => this.local.get(port));
  }

  getOrCreate(port: number, create: () => Session): Promise<Session> {
    return this.either(async () => {
      const session = await this.findOrCreate(port, create);
      this.local.remember(port, session);
      return session;
    }, () => this.local.getOrCreate(port, create));
  }

  replace(session: Session): Promise<Session> {
    return this.either(async () => {
      const key = this.key(session.port);
      const ttl = ttlArgs(session);
      if (ttl) await this.client.call('SET', key, JSON.stringify(session), ...ttl);
      else await this.client.del(key);
      this.local.remember(session.port, session);
      return session;
    }, () => this.local.replace(session));
  }

  delete(port: number): Promise<boolean> {
    return this.either(async () => {
      const deleted = (await this.client.del(this.key(port))) > 0;
      this.local.remember(port, undefined);
      return deleted;
    }, () => this.local.delete(port));
  }

  async list(): Promise<Session[]> {
    return this.either(async () => {
      const sessions: Session[] = [];
      // SCAN walks the keyspace in small steps; KEYS would block Redis for every other client.
      for await (const keys of this.client.scanStream({ match: `${escapeGlob(this.prefix)}*`, count: 200 })) {
        if ((keys as string[]).length === 0) continue;
        for (const value of await this.client.mget(keys as string[])) {
          const session = reviveJson(value);
          if (session && isLive(session)) sessions.push(session);
        }
      }
      return sessions;
    }, () => this.local.list());
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.closed = true;
      clearInterval(this.probe);
      await this.local.close();
      if (this.client.status === 'ready') await this.client.quit().catch(() => this.client.disconnect());
      else this.client.disconnect();
    })();
    return this.closing;
  }

  /** Runs `remote` unless Redis is known to be down; falls back to the local copy if it fails. */
  private async either<T>(remote: () => Promise<T>, fallback: () => Promise<T>): Promise<T> {
    if (this.closed) throw new StoreClosedError(this.kind);
    if (!this.outage) {
      try {
        return await remote();
      } catch (error) {
        if (this.closed) throw new StoreClosedError(this.kind);
        this.startOutage(error as Error);
      }
    }
    return fallback();
  }

  private async findOrCreate(port: number, create: () => Session): Promise<Session> {
    const key = this.key(port);
    const found = reviveJson(await this.client.get(key));
    if (found) return found;
    const candidate = create();
    const ttl = ttlArgs(candidate);
    if (!ttl) return candidate; // already over: nothing to share
    const json = JSON.stringify(candidate);
    const stored = await this.client.setIfAbsent(key, json, ...ttl);
    if (stored === json) return candidate;
    const winner = reviveJson(stored);
    if (winner) return winner;
    this.log.warn({ port, key }, 'unreadable session value in Redis: replaced it');
    await this.client.call('SET', key, json, ...ttl);
    return candidate;
  }

  private startOutage(error: Error): void {
    if (this.closed || this.outage) return;
    this.outage = true;
    this.log.error({ err: error.message }, 'Redis is unreachable: serving sessions from local memory until it is back');
    this.probe = setInterval(() => void this.tryRecover(), RECOVERY_PROBE_MS);
    this.probe.unref();
  }

  private async tryRecover(): Promise<void> {
    if (!this.outage || this.recovering || this.closed || this.client.status !== 'ready') return;
    this.recovering = true;
    try {
      await this.client.ping();
      const { written, keptFromRedis } = await this.writeBackLocalSessions();
      // No await between the last snapshot of the local copy and this line: nothing is missed.
      this.outage = false;
      clearInterval(this.probe);
      this.log.info({ written, keptFromRedis }, 'Redis is back: local sessions reconciled');
    } catch (error) {
      // Still away: the probe or the next 'ready' tries again.
      this.log.debug({ err: (error as Error).message }, 'Redis not back yet');
    } finally {
      this.recovering = false;
    }
  }

  /** SET NX for each local session: where Redis already has a session for the port, Redis wins. */
  private async writeBackLocalSessions(): Promise<{ written: number; keptFromRedis: number }> {
    const done = new Set<Session>();
    let written = 0;
    let keptFromRedis = 0;
    for (let todo = this.local.snapshot(); todo.length > 0; todo = this.local.snapshot().filter((s) => !done.has(s))) {
      const batch = this.client.pipeline();
      for (const session of todo) {
        const ttl = ttlArgs(session);
        if (ttl) batch.call('SET', this.key(session.port), JSON.stringify(session), ...ttl, 'NX');
      }
      for (const [error, reply] of (await batch.exec()) ?? []) {
        if (error) throw error;
        if (reply === 'OK') written++;
        else keptFromRedis++;
      }
      for (const session of todo) done.add(session);
    }
    return { written, keptFromRedis };
  }

  private key(port: number): string {
    return `${this.prefix}${port}`;
  }
}

/** ['PX', ms] for a session that expires, [] for one that never does, undefined once it is over. */
function ttlArgs(session: Session): string[] | undefined {
  if (session.expiresAt === null) return [];
  // Rounded down: Redis drops the key no later than the session's own expiry.
  const ms = Math.floor(session.expiresAt - Date.now());
  return ms > 0 ? ['PX', String(ms)] : undefined;
}

function reviveJson(value: string | null): Session | undefined {
  if (value === null) return undefined;
  try {
    return reviveSession(JSON.parse(value));
  } catch {
    return undefined;
  }
}

function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

/** host:port of a Redis URL, never its password. */
function redisEndpoint(url: string): string {
  return URL.canParse(url) ? new URL(url).host : '(invalid URL)';
}
