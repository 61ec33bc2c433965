import type http from 'node:http';
import { connectTimeout } from './upstream-errors.js';

/**
 * Fails `request` with a 504 if its socket is not connected within `timeoutMs`. Only the
 * connect phase is timed: a reused keep-alive socket is already connected, and a stalled
 * answer is Upstream.ResponseTimeout's (src/proxy/forward.ts).
 */
export function armConnectTimeout(request: http.ClientRequest, timeoutMs: number, peer: string): void {
  request.once('socket', (socket) => {
    if (!socket.connecting) return;
    const timer = setTimeout(() => request.destroy(connectTimeout(peer, timeoutMs)), timeoutMs);
    const clear = (): void => clearTimeout(timer);
    socket.once('connect', clear);
    socket.once('close', clear);
  });
}
