import type { StickyportConfig } from '../config/load.js';
import type { Logger } from '../logging/logger.js';
import { MemorySessionStore } from './memory-store.js';
import type { SessionStore } from './session-store.js';

/** Builds the backend named by SessionStore.Type. */
export async function createStore(config: StickyportConfig['store'], log: Logger): Promise<SessionStore> {
  void log;
  switch (config.type) {
    case 'memory':
      return new MemorySessionStore();
    default:
      throw new Error(`session store "${config.type}" is not available yet`);
  }
}
