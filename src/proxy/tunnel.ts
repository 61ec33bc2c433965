import type net from 'node:net';
import type { UpstreamRoute } from '../upstream/route.js';
import type { UpstreamReads } from '../upstream/upstream-reads.js';

const ESTABLISHED = Buffer.from('HTTP/1.1 200 Connection Established\r\n\r\n');

/**
 * Carries a client's CONNECT tunnel through the route once the upstream side is open. An error
 * or close on either side takes the other down, so no half-dead pair is left behind. Rejects
 * with the UpstreamError to answer when the upstream side cannot be opened.
 */
export async function tunnel(
  client: net.Socket,
  head: Buffer,
  hostname: string,
  port: number,
  route: UpstreamRoute,
): Promise<void> {
  const { reads } = await route.openTunnel(hostname, port);
  const upstream = reads.socket;
  if (client.destroyed) {
    upstream.destroy();
    return;
  }
  upstream.setNoDelay(true);
  upstream.on('error', () => client.destroy());
  client.on('error', () => upstream.destroy());
  client.once('close', () => upstream.destroy());
  // A clean end from the upstream lets the client's pending bytes drain (then its own close,
  // or Listen.IdleTimeout, ends it); anything else cuts the client off.
  upstream.once('end', () => client.end());
  upstream.once('close', () => {
    if (!client.writableEnded) client.destroy();
  });

  client.write(ESTABLISHED);
  if (head.length > 0) upstream.write(head);
  client.pipe(upstream);
  relayToClient(reads, client);
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
