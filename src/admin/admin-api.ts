import { requestFields } from '../observe/request-log.js';
import { describePorts } from '../reload/reload-plan.js';
import { PortReleasedError } from '../ports/port-state.js';
import { ACKNOWLEDGED } from '../store/session-store.js';
import type { AdminContext } from './admin-context.js';
import { portView, sessionView, summaryView, type SessionView } from './port-view.js';

/** One admin API call, without its transport. */
export interface AdminCall {
  readonly method: string;
  /** Without the query string. */
  readonly path: string;
  readonly query: URLSearchParams;
  /** The parsed JSON body of a POST (undefined when it sent none). */
  readonly body: unknown;
  /** Who asked: the remote address, for the log. */
  readonly by: string;
}

export interface AdminAnswer {
  readonly status: number;
  readonly body: unknown;
  /** With a 405: the method the path answers, for the Allow header RFC 9110 requires. */
  readonly allow?: string;
}

type Action = 'reset' | 'new';

/** What one rotation changed. */
interface Rotated {
  readonly port: number;
  /** The id the port had on this instance before, or null. */
  readonly previous: string | null;
  /** `new`: the new session; `reset`: null (the next request makes one). */
  readonly session: SessionView | null;
  /** False for a reset of a port that had no session. */
  readonly changed: boolean;
}

const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 1_000;
// Rotations at once in a bulk call: each one may wait for the store (a file write, Redis).
const BULK_CONCURRENCY = 32;
const RANGE = /^\s*(\d{1,5})\s*(?:-\s*(\d{1,5})\s*)?$/;

const error = (status: number, code: string, message: string): AdminAnswer => ({ status, body: { error: code, message } });

/**
 * The admin API: ports and their sessions, rotations one by one or in bulk, the recent
 * requests, reload. Transport-free, like the session API: (method, path, query, body) -> JSON.
 */
const BULK = /^\/api\/sessions\/(reset|new)$/;
const ONE_PORT = /^\/api\/ports\/(\d{1,5})(?:\/(reset|new))?$/;

/** The paths that answer POST: a POST to any other is answered 404 or 405 without its body being read. */
export function answersPost(path: string): boolean {
  return path === '/api/reload' || BULK.test(path) || ONE_PORT.exec(path)?.[2] !== undefined;
}

export function createAdminApi(context: AdminContext): (call: AdminCall) => Promise<AdminAnswer | undefined> {
  const served = (port: number): boolean => context.mappings.owns(port);

  async function rotate(port: number, action: Action): Promise<Rotated> {
    const state = context.ports.get(port);
    const previous = state.session?.id ?? null;
    if (action === 'new') {
      const session = await state.renew(undefined, ACKNOWLEDGED);
      return { port, previous, session: sessionView(session, state.mapping), changed: true };
    }
    const existed = await state.reset(ACKNOWLEDGED);
    return { port, previous, session: null, changed: existed || previous !== null };
  }

  async function rotateAll(ports: readonly number[], action: Action, by: string): Promise<AdminAnswer> {
    const done: Rotated[] = [];
    // Ports a reload removed while earlier batches waited for the store: chosen when served,
    // they are no longer anyone's to rotate (and not the store's failure).
    const removed: number[] = [];
    try {
      for (let i = 0; i < ports.length; i += BULK_CONCURRENCY) {
        const batch = ports.slice(i, i + BULK_CONCURRENCY).filter((port) => served(port) || void removed.push(port));
        // A reload may take a port out while its rotation waits for the store: it is then one
        // of the removed, not rotated (PortReleasedError), and nothing was installed for it.
        const rotated = await Promise.all(
          batch.map((port) =>
            rotate(port, action).catch((cause: unknown) => {
              if (!(cause instanceof PortReleasedError)) throw cause;
              removed.push(port);
              return undefined;
            }),
          ),
        );
        for (const one of rotated) if (one) done.push(one);
      }
    } catch (cause) {
      context.log.error({ by, action, ports: describePorts(ports), done: done.length, err: (cause as Error).message }, 'admin: rotation failed');
      return error(503, 'store_unavailable', `the session store failed after ${done.length} of ${ports.length} ports: ${(cause as Error).message}`);
    }
    const changed = done.filter((rotated) => rotated.changed).length;
    context.log.info({ by, action, ports: describePorts(ports), changed, removed: removed.length > 0 ? describePorts(removed) : undefined }, action === 'new' ? 'admin: new sessions' : 'admin: sessions reset');
    if (removed.length > 0) {
      const message = `a reload removed ports ${describePorts(removed)} while this call ran: the other ${done.length} were rotated`;
      return { status: 409, body: { error: 'ports_removed', message, action, count: done.length, changed, ports: done } };
    }
    return { status: 200, body: { action, count: done.length, changed, ports: done } };
  }

  function listPorts(query: URLSearchParams): AdminAnswer {
    let offset = Number(query.get('offset') ?? 0);
    const limit = Number(query.get('limit') ?? DEFAULT_LIMIT);
    if (!Number.isInteger(offset) || offset < 0) return error(400, 'bad_query', 'offset must be an integer >= 0');
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) return error(400, 'bad_query', `limit must be an integer 1-${MAX_LIMIT}`);
    const mapping = query.get('mapping');
    if (mapping !== null && !context.mappings.named(mapping)) return error(404, 'unknown_mapping', `no mapping named ${JSON.stringify(mapping)}`);
    let ports = context.mappings.ports();
    if (mapping !== null) ports = ports.filter((port) => context.mappings.mappingOf(port) === mapping);
    // "used": ports that carried traffic or hold a session, for a quick look at a big range.
    if (query.get('used') === 'true') ports = ports.filter((port) => context.stats.get(port) !== undefined || context.ports.peek(port)?.session !== undefined);
    // "around": the page holding that port (the status page's "go to port").
    const around = ports.indexOf(Number(query.get('around')));
    if (around >= 0) offset = Math.floor(around / limit) * limit;
    return {
      status: 200,
      body: { total: ports.length, offset, limit, ports: ports.slice(offset, offset + limit).map((port) => portView(context, port)) },
    };
  }

  /** `{"ports": [...]}`, `{"range": "10201-10250"}` or `{"mapping": "name"}`: the ports, or what is wrong. */
  function selection(body: unknown): number[] | AdminAnswer {
    const usage = 'send one of {"ports": [10201, 10202]}, {"range": "10201-10250"} or {"mapping": "name"}';
    if (typeof body !== 'object' || body === null || Array.isArray(body)) return error(400, 'bad_selection', usage);
    const keys = Object.keys(body);
    if (keys.length !== 1) return error(400, 'bad_selection', usage);
    const { ports, range, mapping } = body as Record<string, unknown>;
    let chosen: number[];
    if (ports !== undefined) {
      if (!Array.isArray(ports) || ports.length === 0 || !ports.every((port) => Number.isInteger(port))) {
        return error(400, 'bad_selection', `"ports" must be a non-empty list of port numbers; ${usage}`);
      }
      chosen = [...new Set(ports as number[])];
    } else if (range !== undefined) {
      const match = typeof range === 'string' ? RANGE.exec(range) : null;
      const [first, last] = match ? [Number(match[1]), Number(match[2] ?? match[1])] : [0, -1];
      if (!match || last < first) return error(400, 'bad_selection', `"range" must be "FIRST-LAST" such as "10201-10250"; ${usage}`);
      chosen = Array.from({ length: last - first + 1 }, (_, i) => first + i);
    } else if (mapping !== undefined) {
      if (typeof mapping !== 'string' || !context.mappings.named(mapping)) return error(404, 'unknown_mapping', `no mapping named ${JSON.stringify(mapping)}`);
      chosen = context.mappings.ports().filter((port) => context.mappings.mappingOf(port) === mapping);
    } else {
      return error(400, 'bad_selection', usage);
    }
    const unknown = chosen.filter((port) => !served(port));
    if (unknown.length > 0) return error(404, 'unknown_ports', `not served here: ${describePorts(unknown)}`);
    return chosen.sort((a, b) => a - b);
  }

  return async (call) => {
    const { method, path } = call;
    const expect = (wanted: string, answer: () => AdminAnswer | Promise<AdminAnswer>): AdminAnswer | Promise<AdminAnswer> =>
      method === wanted ? answer() : { ...error(405, 'method_not_allowed', `${path} answers ${wanted} only`), allow: wanted };

    if (path === '/api/summary') return expect('GET', () => ({ status: 200, body: summaryView(context) }));
    if (path === '/api/ports') return expect('GET', () => listPorts(call.query));
    if (path === '/api/requests') {
      const urls = context.running().logging.requestUrls;
      return expect('GET', () => ({ status: 200, body: context.live.recent().map((record) => ({ at: new Date(record.endedAt).toISOString(), ...requestFields(record, context.mappings.mappingOf, urls) })) }));
    }
    if (path === '/api/reload') {
      return expect('POST', async () => {
        const outcome = await context.reload(call.by);
        return outcome.applied ? { status: 200, body: outcome } : { status: outcome.code === 'CONFIG_INVALID' ? 422 : 409, body: outcome };
      });
    }
    const bulk = BULK.exec(path);
    if (bulk) {
      return expect('POST', () => {
        const ports = selection(call.body);
        return Array.isArray(ports) ? rotateAll(ports, bulk[1] as Action, call.by) : ports;
      });
    }
    const one = ONE_PORT.exec(path);
    if (one) {
      const port = Number(one[1]);
      if (!served(port)) return error(404, 'unknown_port', `port ${port} is not served here`);
      if (!one[2]) return expect('GET', () => ({ status: 200, body: portView(context, port) }));
      return expect('POST', async () => {
        const answer = await rotateAll([port], one[2] as Action, call.by);
        if (answer.status !== 200) return answer;
        return { status: 200, body: (answer.body as { ports: Rotated[] }).ports[0] };
      });
    }
    return undefined;
  };
}
