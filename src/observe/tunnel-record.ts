import type net from 'node:net';
import { CLIENT_CLOSED, OK, outcomeOf, type Observe, type RequestKind } from './request-record.js';

export interface TunnelStart {
  readonly port: number;
  readonly kind: RequestKind;
  /** `host:port` as the client asked for it. */
  readonly host: string;
  readonly sessionId: string;
  /** performance.now() when the request arrived, and when its upstream side was open. */
  readonly startedAt: number;
  readonly openedAt: number;
}

/**
 * Records a tunnel (HTTP CONNECT, SOCKS) when its client socket closes. Called just before the
 * relay begins: `head` is what the client already sent past its request, `reply` the length of
 * the answer that tells it the tunnel is open, so that neither handshake counts as tunnel bytes.
 */
export function observeTunnel(socket: net.Socket, head: Buffer, reply: number, start: TunnelStart, observe: Observe): void {
  const read = socket.bytesRead - head.length;
  const written = socket.bytesWritten + reply;
  const finish = (): void => {
    const bytesDown = socket.bytesWritten - written;
    observe({
      port: start.port,
      kind: start.kind,
      method: 'CONNECT',
      host: start.host,
      sessionId: start.sessionId,
      status: 200,
      // Closed before the reply could be written: the client never had its tunnel.
      outcome: bytesDown < 0 ? CLIENT_CLOSED : OK,
      bytesUp: socket.bytesRead - read,
      bytesDown: Math.max(0, bytesDown),
      endedAt: Date.now(),
      durationMs: performance.now() - start.startedAt,
      upstreamMs: start.openedAt - start.startedAt,
    });
  };
  if (socket.closed) finish();
  else socket.once('close', finish);
}

export interface RefusedRequest {
  readonly port: number;
  readonly kind: RequestKind;
  readonly method: string;
  readonly host: string;
  readonly startedAt: number;
  /** The session it was to leave with, when it got that far. */
  readonly sessionId?: string;
}

/** Records a request or tunnel answered with an error before its answer or relay began. */
export function observeRefusal(request: RefusedRequest, error: unknown, observe: Observe): void {
  const { outcome, status, message } = outcomeOf(error);
  observe({
    ...request,
    sessionId: request.sessionId,
    status,
    outcome,
    message,
    bytesUp: 0,
    bytesDown: 0,
    endedAt: Date.now(),
    durationMs: performance.now() - request.startedAt,
    upstreamMs: undefined,
  });
}

/**
 * Records a tunnel whose client went away before it opened (the upstream side then opened, or
 * failed, for no one): `CLIENT_CLOSED`, as a plain request cut by its client, not the upstream's
 * error, which nobody was answered with.
 */
export function observeClientGone(request: RefusedRequest, observe: Observe): void {
  observe({
    ...request,
    sessionId: request.sessionId,
    status: 0,
    outcome: CLIENT_CLOSED,
    message: 'the client closed its connection before the tunnel opened',
    bytesUp: 0,
    bytesDown: 0,
    endedAt: Date.now(),
    durationMs: performance.now() - request.startedAt,
    upstreamMs: undefined,
  });
}
