import type http from 'node:http';
import type { Logger } from '../logging/logger.js';
import { UpstreamError, type StickyportError } from '../errors.js';
import { upstreamFailure, upstreamStatusFailure } from '../upstream/upstream-errors.js';
import type { HttpTarget, UpstreamRoute } from '../upstream/route.js';
import { portOf } from './listener-pool.js';

// Connection-level headers: they describe one hop, so they stop here (RFC 9110, 7.6.1).
// Transfer-Encoding stays: Node re-frames the body to match it on the next hop.
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'proxy-authenticate',
  'te',
  'trailer',
  'upgrade',
]);

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Plain HTTP through the port's session: the request is re-sent on the session's own
 * keep-alive pool and the answer streamed back. Upstream failures become 502/504 with a
 * short plain-text reason and an `X-Stickyport-Error` code.
 */
export function forwardHttp(
  request: http.IncomingMessage,
  response: http.ServerResponse,
  target: HttpTarget,
  route: UpstreamRoute,
  options: { readonly log: Logger; readonly responseTimeoutMs: number },
  retry = true,
): void {
  const { log, responseTimeoutMs } = options;
  const method = request.method!;
  const outgoing = route.request(target, method, endToEndHeaders(request.rawHeaders, target));
  // Idle time on the upstream socket: no answer at all, or an answer that stops mid-body.
  outgoing.setTimeout(responseTimeoutMs, () => {
    const peer = route.describePeer(target);
    outgoing.destroy(new UpstreamError('UPSTREAM_TIMEOUT', `${peer} sent nothing for ${responseTimeoutMs} ms`));
  });

  outgoing.on('response', (incoming) => {
    if (incoming.statusCode === 407 && route.viaHttpProxy) {
      incoming.resume();
      fail(response, upstreamStatusFailure(407, route.describePeer(target)), log);
      return;
    }
    response.writeHead(incoming.statusCode!, incoming.statusMessage, endToEndHeaders(incoming.rawHeaders));
    incoming.pipe(response);
    incoming.on('error', () => response.destroy());
  });

  outgoing.on('error', (error: NodeJS.ErrnoException) => {
    if (response.headersSent) {
      response.destroy();
      return;
    }
    // A pooled connection the upstream had already closed: the request never reached it,
    // so an idempotent request without a body is safe to send once more on a fresh one.
    if (retry && outgoing.reusedSocket && error.code === 'ECONNRESET' && IDEMPOTENT.has(method) && !hasBody(request)) {
      forwardHttp(request, response, target, route, options, false);
      return;
    }
    fail(response, upstreamFailure(error, route.describePeer(target)), log);
  });

  response.once('close', () => {
    if (!response.writableFinished) outgoing.destroy();
  });
  request.pipe(outgoing);
}

export function fail(response: http.ServerResponse, error: StickyportError, log: Logger): void {
  log.warn({ port: response.socket ? portOf(response.socket) : undefined, code: error.code, status: error.status }, error.message);
  if (response.headersSent) {
    response.destroy();
    return;
  }
  const body = `${error.message}\n`;
  response.writeHead(error.status, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'x-stickyport-error': error.code,
  });
  response.end(body);
}

/** Drops hop-by-hop headers (and any the Connection header names); adds Host if missing. */
function endToEndHeaders(raw: string[], target?: HttpTarget): string[] {
  const headers: string[] = [];
  let connectionTokens: string | undefined;
  let hasHost = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower)) {
      if (lower === 'connection') connectionTokens = raw[i + 1];
      continue;
    }
    if (lower === 'host') hasHost = true;
    headers.push(name, raw[i + 1]!);
  }
  if (connectionTokens) dropConnectionTokens(headers, connectionTokens);
  if (target && !hasHost) headers.push('Host', target.port === 80 ? target.hostname : `${target.hostname}:${target.port}`);
  return headers;
}

const PLAIN_CONNECTION_VALUE = /^\s*(keep-alive|close)\s*$/i;

function dropConnectionTokens(headers: string[], tokens: string): void {
  // Nearly every client sends just "keep-alive" or "close": nothing to drop.
  if (PLAIN_CONNECTION_VALUE.test(tokens)) return;
  const named = new Set(tokens.split(',').map((token) => token.trim().toLowerCase()));
  named.delete('close');
  named.delete('keep-alive');
  if (named.size === 0) return;
  for (let i = headers.length - 2; i >= 0; i -= 2) {
    if (named.has(headers[i]!.toLowerCase())) headers.splice(i, 2);
  }
}

function hasBody(request: http.IncomingMessage): boolean {
  return request.headers['content-length'] !== undefined || request.headers['transfer-encoding'] !== undefined;
}
