import type { StickyportConfig } from '../config/load.js';
import type { Logger } from '../logging/logger.js';
import { FileSessionStore } from './file-store.js';
import { MemorySessionStore } from './memory-store.js';
import { RedisSessionStore } from './redis-store.js';
import type { SessionStore } from './session-store.js';

/**
 * Builds the backend named by SessionStore.Type. Async because a store must be ready before the
 * first request: the file store has loaded its file, the Redis store has tried to connect.
 */
export async function createStore(config: StickyportConfig['store'], log: Logger): Promise<SessionStore> {
  switch (config.type) {
    case 'memory':
      return new MemorySessionStore();
    case 'file':
      return FileSessionStore.open({ path: config.path, log: log.child({ store: 'file' }) });
    case 'redis':
      return RedisSessionStore.open({ url: config.redisUrl, keyPrefix: config.keyPrefix, log: log.child({ store: 'redis' }) });
  }
}
