import type net from 'node:net';
import type { UpstreamRoute } from '../upstream/route.js';

const ESTABLISHED = 'HTTP/1.1 200 Connection Established\r\n\r\n';

/**
 * Pipes a client's CONNECT tunnel through the route once the upstream side is open. Either
 * side closing destroys the other, so no half-dead pair is left behind. Rejects with the
 * UpstreamError to answer when the upstream side cannot be opened.
 */
export async function tunnel(
  client: net.Socket,
  head: Buffer,
  hostname: string,
  port: number,
  route: UpstreamRoute,
): Promise<void> {
  const { socket: upstream, head: upstreamHead } = await route.openTunnel(hostname, port);
  if (client.destroyed) {
    upstream.destroy();
    return;
  }
  upstream.setNoDelay(true);
  client.write(ESTABLISHED);
  if (upstreamHead.length > 0) client.write(upstreamHead);
  if (head.length > 0) upstream.write(head);
  client.pipe(upstream);
  upstream.pipe(client);
  upstream.on('error', () => client.destroy());
  client.on('error', () => upstream.destroy());
  upstream.once('close', () => client.destroy());
  client.once('close', () => upstream.destroy());
}
