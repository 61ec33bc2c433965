import { once } from 'node:events';
import type http from 'node:http';
import type net from 'node:net';
import type { OpenTunnel } from '../upstream/route.js';
import { joinedTo, resetSocket, wasCut } from '../ports/tunnel-cut.js';
import type { UpstreamReads } from '../upstream/upstream-reads.js';

export const ESTABLISHED = Buffer.from('HTTP/1.1 200 Connection Established\r\n\r\n');

/**
 * Carries a client's CONNECT tunnel over an upstream side already open. Each side's FIN is
 * passed on (a client that sends its request and then FIN still gets the whole answer); an
 * error or reset on either side resets the other, so no half-dead pair is left behind.
 * `established` is what tells the client the tunnel is open: HTTP's 200, or a SOCKS reply.
 */
export async function tunnel(
  client: net.Socket,
  head: Buffer,
  opened: OpenTunnel,
  idleTimeoutMs: number,
  established: Buffer = ESTABLISHED,
): Promise<void> {
  const { reads } = opened;
  const upstream = reads.socket;
  if (client.destroyed) {
    // Cut by a rotation while the upstream side opened: nothing may leave on it.
    if (wasCut(client)) resetSocket(upstream);
    else upstream.destroy();
    return;
  }
  joinedTo(client, upstream);
  // Node's server disarms the idle timer when a keep-alive connection starts its next request;
  // a tunnel opened as that request must idle out like any other.
  client.setTimeout(idleTimeoutMs);
  upstream.setNoDelay(true);
  // A reset (or any error) on one side is passed on as a reset: a plain close would give the
  // other end a clean FIN, which it could take for the end of a whole transfer.
  upstream.on('error', () => resetSocket(client));
  client.on('error', () => resetSocket(upstream));
  client.once('close', () => upstream.destroy());
  // The upstream may end before the relay starts (it is read on while an earlier pipelined
  // answer goes out): its FIN then waits for the 200 and the bytes held, instead of cutting
  // that earlier answer short.
  let relaying = false;
  let upstreamEnded = false;
  upstream.once('end', () => {
    upstreamEnded = true;
    if (relaying) client.end();
  });
  upstream.once('close', () => {
    if (relaying ? !client.writableEnded : !upstreamEnded) client.destroy();
  });

  // An answer to a request pipelined before this CONNECT may still be on its way out.
  const earlier = (client as net.Socket & { _httpMessage?: http.ServerResponse })._httpMessage;
  if (earlier && !earlier.writableFinished) await once(earlier, 'finish').catch(() => undefined);
  if (client.destroyed) return;
  client.write(established);
  if (head.length > 0) upstream.write(head);
  client.pipe(upstream);
  relayToClient(reads, client);
  relaying = true;
  if (upstreamEnded) client.end();
}

/**
 * Writes what the upstream sends to the client. A chunk may be a view of the upstream's reused
 * read buffer, so while its write is still pending no further read may overwrite it: reading
 * pauses until the write is flushed. That is also the tunnel's backpressure.
 */
function relayToClient(reads: UpstreamReads, client: net.Socket): void {
  let paused = false;
  const flushed = (): void => {
    // Several writes may be pending (bytes held before the relay began): wait for the last.
    if (!paused || client.writableLength > 0) return;
    paused = false;
    reads.socket.resume();
  };
  reads.take((chunk) => {
    client.write(chunk, flushed);
    if (client.writableLength === 0) return true;
    paused = true;
    return false;
  });
}

/**
 * Joins a client socket to an upstream socket both ways (a WebSocket after its 101): FIN is
 * passed on each way, an error or reset on either side resets the other.
 */
export function joinSockets(client: net.Socket, upstream: net.Socket, idleTimeoutMs: number): void {
  client.setTimeout(idleTimeoutMs);
  joinedTo(client, upstream);
  upstream.on('error', () => resetSocket(client));
  client.on('error', () => resetSocket(upstream));
  client.once('close', () => upstream.destroy());
  upstream.once('close', () => {
    if (!client.writableEnded) client.destroy();
  });
  client.pipe(upstream);
  upstream.pipe(client);
}
