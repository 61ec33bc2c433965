import type http from 'node:http';
import { StickyportError } from '../errors.js';
import { queryParameters, type SessionParams } from '../session/parameters.js';
import { quoted } from '../logging/quoted.js';

/** `X-Stickyport-Session: new`: rotate the port before this request. */
export const SESSION_HEADER = 'x-stickyport-session';
/** `X-Stickyport-Session-Params: country=de&city=berlin`: the parameters of this request's session. */
export const PARAMS_HEADER = 'x-stickyport-session-params';

/** What a request asked of its port's session. */
export interface SessionControl {
  /** A new session before this request. */
  readonly renew: boolean;
  /** The whole parameter set for this request's session; undefined = none asked. */
  readonly params: SessionParams | undefined;
}

/**
 * The per-request control headers of a proxy request (plain HTTP, or the CONNECT request itself:
 * `curl --proxy-header`). Undefined when it carries none. A value other than `new`, a header
 * sent twice, or parameters that are not declared or not safe, are a 400: nothing goes upstream.
 * The headers never leave stickyport (hop-headers.ts drops them from what goes upstream).
 */
export function readSessionControl(request: http.IncomingMessage, declared: ReadonlySet<string>): SessionControl | undefined {
  const headers = request.headers;
  // Node joins repeated x- headers into one string; a repetition is found in rawHeaders below.
  const session = headers[SESSION_HEADER] as string | undefined;
  const params = headers[PARAMS_HEADER] as string | undefined;
  if (session === undefined && params === undefined) return undefined;
  if (session !== undefined && twice(request, SESSION_HEADER)) throw controlError(`${SESSION_HEADER} was sent twice: send it once, as "new"`);
  if (params !== undefined && twice(request, PARAMS_HEADER)) throw controlError(`${PARAMS_HEADER} was sent twice: send it once`);
  if (session !== undefined && session.trim().toLowerCase() !== 'new') {
    throw controlError(`X-Stickyport-Session takes one value, "new" (rotate this port before the request), not ${quoted(session.slice(0, 20))}`);
  }
  return {
    renew: session !== undefined,
    // Parameters as the session API takes them: country=de&city=berlin; `country=` means none.
    params: params === undefined ? undefined : (queryParameters(new URLSearchParams(params.trim()), declared) ?? {}),
  };
}

function twice(request: http.IncomingMessage, name: string): boolean {
  let count = 0;
  const raw = request.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.length === name.length && raw[i]!.toLowerCase() === name) count++;
  return count > 1;
}

function controlError(message: string): StickyportError {
  return new StickyportError('CONTROL_HEADER', message, { status: 400 });
}
