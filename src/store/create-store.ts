import type { StickyportConfig } from '../config/load.js';
import type { Logger } from '../logging/logger.js';
import type { SessionIdRule } from '../session/session.js';
import { FileSessionStore } from './file-store.js';
import { MemorySessionStore } from './memory-store.js';
import type { SessionStore } from './session-store.js';

/**
 * Builds the backend named by SessionStore.Type. Async because a store must be ready before the
 * first request: the file store has loaded its file, the Redis store has tried to connect.
 * `idRule` is the configured id shape: a stored value whose id breaks it is never used.
 */
export async function createStore(config: StickyportConfig['store'], log: Logger, idRule: SessionIdRule): Promise<SessionStore> {
  switch (config.type) {
    case 'memory':
      return new MemorySessionStore();
    case 'file':
      return FileSessionStore.open({ path: config.path, log: log.child({ store: 'file' }), idRule });
    case 'redis': {
      // Loaded only when used: ioredis adds about 50 ms to every start-up otherwise.
      const { RedisSessionStore } = await import('./redis-store.js');
      return RedisSessionStore.open({ url: config.redisUrl, keyPrefix: config.keyPrefix, log: log.child({ store: 'redis' }), idRule });
    }
  }
}
