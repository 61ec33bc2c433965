import { createRequire } from 'node:module';
import type { Agent as AgentType, Pool as PoolType, buildConnector as BuildConnector } from 'undici';

/**
 * undici's Pool and Agent, loaded from their own modules rather than from `undici`'s index.
 * The index also loads fetch, WebSocket, EventSource, the cache and mock layers, and (through
 * its cookies module) Node's own bundled copy of undici: about 70 ms of compiling at every
 * start, against about 20 ms for the two dispatchers stickyport uses (and their connector). undici has no `exports`
 * map, so the files can be required; they are not a published entry point, so package.json
 * holds undici to 7.30.x, and the suite exercises both on every route.
 */
const require = createRequire(import.meta.url);

export const Pool: typeof PoolType = require('undici/lib/dispatcher/pool.js');
export const Agent: typeof AgentType = require('undici/lib/dispatcher/agent.js');
export const buildConnector: typeof BuildConnector = require('undici/lib/core/connect.js');
export type Pool = PoolType;
export type Agent = AgentType;
