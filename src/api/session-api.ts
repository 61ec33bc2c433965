import type { Logger } from '../logging/logger.js';
import type { ExitIdentity } from '../identity/exit-identity.js';
import type { Mapping } from '../ports/mapping.js';
import { PortReleasedError } from '../ports/port-state.js';
import type { Ports } from '../ports/ports.js';
import { StickyportError } from '../errors.js';
import { ParameterError, queryParameters } from '../session/parameters.js';
import { ACKNOWLEDGED } from '../store/session-store.js';
import type { Session } from '../session/session.js';

export interface ApiCall {
  readonly method: string;
  /** Path without the query, e.g. `/session/reset`. */
  readonly path: string;
  /** The local port the call arrived on: the session it is about. */
  readonly port: number;
  /** True when SessionAPI.Password is unset, or the caller gave it (or a valid proxy login). */
  readonly authorized: boolean;
  /** The query: `/session/new?country=de` sets parameters (`pwd` is the password). */
  readonly query?: URLSearchParams;
  /** Who asked (the client's address), for the log line of a rotation. */
  readonly client?: string;
  /** The port has a client login, which a caller may send instead of the password. */
  readonly portHasLogin?: boolean;
}

export interface ApiAnswer {
  readonly status: number;
  readonly body: object;
  readonly headers?: Readonly<Record<string, string>>;
}

export interface SessionJson {
  readonly session_id: string;
  /** RFC 1123 in GMT, e.g. `Wed, 10 Jun 2026 16:09:43 GMT`; null = never expires. */
  readonly expires_at: string | null;
  readonly expired: boolean;
  /** The mapping's name, when the configuration has Mappings. */
  readonly mapping?: string;
  /** The pool member (`host:port`), when the mapping's upstream is a pool. */
  readonly upstream?: string;
  /** The parameters the session renders (defaults applied), when the mapping declares any. */
  readonly parameters?: Readonly<Record<string, string>>;
  /** The exit IP an echo URL last saw the session come from, once asked. */
  readonly exit?: { readonly ip: string; readonly country?: string; readonly seen_at: string };
}

export function sessionJson(session: Session, now: number = Date.now(), mapping?: Mapping): SessionJson {
  const json: { -readonly [K in keyof SessionJson]: SessionJson[K] } = {
    session_id: session.id,
    expires_at: session.expiresAt === null ? null : expiryDate(session.expiresAt),
    expired: session.expiresAt !== null && session.expiresAt <= now,
  };
  if (mapping?.config.source) json.mapping = mapping.name;
  if (mapping?.pool) json.upstream = mapping.pool.entryOf(session).key;
  if (mapping && mapping.declared.size > 0) json.parameters = mapping.paramsOf(session);
  if (session.exit) {
    const { ip, country, seenAt } = session.exit;
    json.exit = country === undefined ? { ip, seen_at: new Date(seenAt).toUTCString() } : { ip, country, seen_at: new Date(seenAt).toUTCString() };
  }
  return json;
}

/**
 * The headers ProxyMapService's session API answers carry: the id, the lifetime in minutes
 * (`0` = never expires; fractions for lifetimes such as "90s") and the expiry (RFC 1123; absent
 * for a session that never expires).
 */
export function sessionHeaders(session: Session, mapping: Mapping): Record<string, string> {
  const headers: Record<string, string> = {
    'x-session-id': session.id,
    'x-session-time': String(Math.round((mapping.config.lifetimeMs / 60_000) * 1000) / 1000),
  };
  if (session.expiresAt !== null) headers['x-expires-at'] = expiryDate(session.expiresAt);
  return headers;
}

/**
 * An expiry as an RFC 1123 date, which has whole seconds: rounded up, so that by the announced
 * time the session has expired. Rounded down,
 * a client moving on at the announced time still got the old session for up to a second (and
 * `/session/` then said `expired: false` beside an expiry in the past).
 */
export function expiryDate(expiresAt: number): string {
  return new Date(Math.ceil(expiresAt / 1000) * 1000).toUTCString();
}

function sessionAnswer(session: Session, mapping: Mapping): ApiAnswer {
  return { status: 200, body: sessionJson(session, Date.now(), mapping), headers: sessionHeaders(session, mapping) };
}

type Action = 'current' | 'reset' | 'new';

const ACTIONS: Record<string, Action> = {
  '/session': 'current',
  '/session/reset': 'reset',
  '/session/new': 'new',
};

/**
 * The session API without its transport: (method, path, port) -> status and JSON body.
 * The proxy's API gateway decides which requests are API calls and writes the answers.
 * A rotation starts synchronously, within the call: a request pipelined behind it on the same
 * connection already waits for the new session (src/ports/port-state.ts).
 */
export function createSessionApi(
  ports: Ports,
  options: { readonly publicRead: boolean; readonly identity?: ExitIdentity; readonly log?: Logger },
): (call: ApiCall) => Promise<ApiAnswer> {
  return async (call) => {
    const action = ACTIONS[call.path.length > 1 ? call.path.replace(/\/+$/, '') : call.path];
    if (!action) {
      return error(404, 'not_found', `no such session API path: ${call.path} (try /session/, /session/reset, /session/new)`);
    }
    if (call.method !== 'GET') {
      return { ...error(405, 'method_not_allowed', 'the session API answers GET only'), headers: { allow: 'GET' } };
    }
    if (!call.authorized && !(action === 'current' && options.publicRead)) {
      return error(403, 'forbidden', call.portHasLogin === false
        ? 'the session API needs its password: add ?pwd=... (this port has no client login to send instead)'
        : 'the session API needs its password: add ?pwd=... or send the proxy login');
    }
    const state = ports.get(call.port);
    try {
      switch (action) {
        case 'current': {
          const binding = await state.current();
          // Traffic's sessions are saved in the background; an id the API names must survive a crash.
          await state.durable();
          if (!isTrue(call.query?.get('ip'))) return sessionAnswer(binding.session, state.mapping);
          const { identity } = options;
          if (!identity?.canCheck) return error(400, 'identity_off', 'Identity.EchoUrl is not set: there is nothing to ask the exit IP from');
          const checked = await identity.check(state, binding, 'api');
          // Drift with Identity.OnDrift rotate gave the port a new session, not asked yet: the
          // caller asked for an exit IP, so the new session's is asked for too.
          if (checked.exit === undefined && checked.id !== binding.session.id) {
            const renewed = await state.current();
            // The port has its new session whatever this check gives: named without an exit when it fails.
            const answered = await identity.check(state, renewed, 'api').catch((error: unknown) => {
              if (error instanceof StickyportError && error.code === 'IDENTITY_UNAVAILABLE') return renewed.session;
              throw error;
            });
            return sessionAnswer(answered, state.mapping);
          }
          return sessionAnswer(checked, state.mapping);
        }
        case 'reset': {
          const previousId = state.session?.id;
          const existed = await state.reset(ACKNOWLEDGED);
          // Who rotated a port, as the admin API logs it: "why did port X change its IP?" (A
          // reset of a port without a session changed nothing: said as such, not as a reset.)
          options.log?.info({ port: call.port, by: call.client, previousId }, existed ? 'session API: session reset' : 'session API: reset of a port without a session');
          return { status: 200, body: { success: true } };
        }
        case 'new': {
          const params = call.query ? queryParameters(call.query, state.policy.declared) : undefined;
          const previousId = state.session?.id;
          const session = await state.renew(params, ACKNOWLEDGED);
          options.log?.info({ port: call.port, by: call.client, previousId, sessionId: session.id }, 'session API: new session');
          return sessionAnswer(session, state.mapping);
        }
      }
    } catch (cause) {
      if (cause instanceof ParameterError) return error(400, 'bad_parameter', cause.message);
      if (cause instanceof StickyportError && cause.code === 'IDENTITY_UNAVAILABLE') return error(502, 'identity_unavailable', cause.message);
      if (cause instanceof PortReleasedError) return error(503, 'stopping', cause.message);
      return error(503, 'store_unavailable', `the session store failed: ${(cause as Error).message}`);
    }
  };
}

function isTrue(value: string | null | undefined): boolean {
  return value === '1' || value === 'true' || value === '';
}

function error(status: number, code: string, message: string): ApiAnswer {
  return { status, body: { error: code, message } };
}
