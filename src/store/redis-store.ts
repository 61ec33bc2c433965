import { once } from 'node:events';
import { Redis } from 'ioredis';
import type { Logger } from '../logging/logger.js';
import { isLive, reviveSession, type Session } from '../session/session.js';
import { RedisFallback, type WriteBackCounts } from './redis-fallback.js';
import type { SessionStore } from './session-store.js';

export interface RedisStoreOptions {
  readonly url: string;
  readonly keyPrefix: string;
  readonly log: Logger;
}

// Returns the port's live session, or stores ARGV[1] and returns it: one round trip, no race.
// A value whose expiresAt has passed (ARGV[2] is the caller's clock) counts as absent: Redis
// expires keys a few milliseconds late, and an expired session must never be handed out again.
const GET_OR_SET = `
local current = redis.call('GET', KEYS[1])
if current then
  local ok, session = pcall(cjson.decode, current)
  if ok and type(session) == 'table' and (session.expiresAt == cjson.null or session.expiresAt > tonumber(ARGV[2])) then
    return current
  end
end
redis.call('SET', KEYS[1], ARGV[1], unpack(ARGV, 3))
return ARGV[1]`;

type ScriptedRedis = Redis & { getOrSet(key: string, ...args: string[]): Promise<string> };

/**
 * Sessions in Redis, shared by every stickyport instance using the same URL and key prefix:
 * one key per port holding the session's JSON, with the session's expiry as the key's TTL.
 * If Redis stops answering, requests go on with a local copy (see RedisFallback), and when it
 * is back the local sessions are written back where Redis has none for the port.
 */
export class RedisSessionStore implements SessionStore {
  readonly kind = 'redis';
  readonly shared = true;
  private readonly client: ScriptedRedis;
  private readonly fallback: RedisFallback;
  private readonly log: Logger;
  private readonly prefix: string;
  private closing: Promise<void> | undefined;

  private constructor(options: RedisStoreOptions) {
    this.log = options.log.child({ redis: redisEndpoint(options.url) });
    this.prefix = `${options.keyPrefix}port:`;
    this.fallback = new RedisFallback(
      {
        isReady: () => this.client.status === 'ready',
        ping: () => this.client.ping(),
        writeIfAbsent: (sessions) => this.writeIfAbsent(sessions),
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
    this.client.defineCommand('getOrSet', { numberOfKeys: 1, lua: GET_OR_SET });
    // Without an 'error' listener, ioredis errors would crash the process.
    this.client.on('error', (error: Error) => this.fallback.startOutage(error));
    this.client.on('close', () => this.fallback.startOutage(new Error('connection to Redis closed')));
    this.client.on('ready', () => void this.fallback.tryRecover());
  }

  /** Connects (or gives up for now, serving locally until Redis answers) before returning. */
  static async open(options: RedisStoreOptions): Promise<RedisSessionStore> {
    const store = new RedisSessionStore(options);
    // Resolves on 'ready'; rejects on the first error or after the timeout: either way, go on.
    await once(store.client, 'ready', { signal: AbortSignal.timeout(1_500) }).catch(() => undefined);
    if (store.client.status !== 'ready') store.fallback.startOutage(new Error('Redis did not answer at start-up'));
    return store;
  }

  get(port: number): Promise<Session | undefined> {
    return this.fallback.either(async () => {
      const found = reviveJson(await this.client.get(this.key(port)));
      const session = found && isLive(found) ? found : undefined;
      this.fallback.remember(port, session);
      return session;
    }, (local) => local.get(port));
  }

  getOrCreate(port: number, create: () => Session): Promise<Session> {
    return this.fallback.either(async () => {
      const session = await this.findOrCreate(port, create);
      this.fallback.remember(port, session);
      return session;
    }, (local) => local.getOrCreate(port, create));
  }

  replace(session: Session): Promise<Session> {
    return this.fallback.either(async () => {
      const key = this.key(session.port);
      const ttl = ttlArgs(session);
      if (ttl) await this.client.call('SET', key, JSON.stringify(session), ...ttl);
      else await this.client.del(key);
      this.fallback.remember(session.port, session);
      return session;
    }, (local) => local.replace(session));
  }

  delete(port: number): Promise<boolean> {
    return this.fallback.either(async () => {
      const deleted = (await this.client.del(this.key(port))) > 0;
      this.fallback.remember(port, undefined);
      return deleted;
    }, (local) => local.delete(port));
  }

  async list(): Promise<Session[]> {
    return this.fallback.either(async () => {
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
    }, (local) => local.list());
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.fallback.close();
      if (this.client.status === 'ready') await this.client.quit().catch(() => this.client.disconnect());
      else this.client.disconnect();
    })();
    return this.closing;
  }

  private async findOrCreate(port: number, create: () => Session): Promise<Session> {
    const key = this.key(port);
    const found = reviveJson(await this.client.get(key));
    if (found && isLive(found)) return found;
    const candidate = create();
    const ttl = ttlArgs(candidate);
    if (!ttl) return candidate; // already over: nothing to share
    const json = JSON.stringify(candidate);
    const stored = await this.client.getOrSet(key, json, String(Date.now()), ...ttl);
    return stored === json ? candidate : (reviveJson(stored) ?? candidate);
  }

  /** SET NX for each session: where Redis already has a session for the port, Redis wins. */
  private async writeIfAbsent(sessions: readonly Session[]): Promise<WriteBackCounts> {
    const batch = this.client.pipeline();
    for (const session of sessions) {
      const ttl = ttlArgs(session);
      if (ttl) batch.call('SET', this.key(session.port), JSON.stringify(session), ...ttl, 'NX');
    }
    let written = 0;
    let keptFromRedis = 0;
    for (const [error, reply] of (await batch.exec()) ?? []) {
      if (error) throw error;
      if (reply === 'OK') written++;
      else keptFromRedis++;
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
