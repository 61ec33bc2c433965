import type { Ports } from '../ports/ports.js';
import type { Session } from '../session/session.js';

export interface ApiCall {
  readonly method: string;
  /** Path without the query, e.g. `/session/reset`. */
  readonly path: string;
  /** The local port the call arrived on: the session it is about. */
  readonly port: number;
  /** True when SessionAPI.Password is unset, or the caller gave it (or a valid proxy login). */
  readonly authorized: boolean;
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
}

export function sessionJson(session: Session, now: number = Date.now()): SessionJson {
  return {
    session_id: session.id,
    expires_at: session.expiresAt === null ? null : new Date(session.expiresAt).toUTCString(),
    expired: session.expiresAt !== null && session.expiresAt <= now,
  };
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
  options: { readonly publicRead: boolean },
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
      return error(403, 'forbidden', 'the session API needs its password: add ?pwd=... or send the proxy login');
    }
    try {
      switch (action) {
        case 'current':
          return { status: 200, body: sessionJson((await ports.get(call.port).current()).session) };
        case 'reset':
          await ports.get(call.port).reset();
          return { status: 200, body: { success: true } };
        case 'new':
          return { status: 200, body: sessionJson(await ports.get(call.port).renew()) };
      }
    } catch (cause) {
      return error(503, 'store_unavailable', `the session store failed: ${(cause as Error).message}`);
    }
  };
}

function error(status: number, code: string, message: string): ApiAnswer {
  return { status, body: { error: code, message } };
}
