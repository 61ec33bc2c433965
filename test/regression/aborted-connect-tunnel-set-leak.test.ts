// Regression (adversarial review): a client that resets its connection while the upstream is
// still answering its CONNECT is kept for good in its session's set of bound tunnels. The
// socket is already closed when the upstream side opens; onConnect still calls
// PortState.bindTunnel, which adds it to `binding.tunnels` and waits for a 'close' that was
// emitted before. Nothing removes it until the session rotates: with a lifetime of 0 (never
// expires) and no API call, every such abort leaks one socket object (and what it holds) for
// the life of the process. 50 aborts by hand: 50 dead sockets in the set.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../helpers/eventually.js';
import { startStickyport, type RunningProxy } from '../helpers/stickyport.js';

const ABORTS = 30;
const held: net.Socket[] = [];
let slowUpstream: net.Server;
let proxy: RunningProxy;

beforeAll(async () => {
  // An HTTP upstream proxy that accepts the CONNECTs it holds only when the test says so.
  slowUpstream = net.createServer((socket) => {
    socket.on('error', () => undefined);
    socket.once('data', () => held.push(socket));
  });
  await new Promise<void>((resolve) => slowUpstream.listen(0, '127.0.0.1', resolve));
  const { port } = slowUpstream.address() as net.AddressInfo;
  proxy = await startStickyport(
    { Listen: { StickyProxyLifetime: 0 }, Upstream: { Url: `http://customer-{session}:secret@127.0.0.1:${port}` } },
    { portCount: 1 },
  );
});

afterAll(async () => {
  await proxy?.stop();
  await new Promise((resolve) => slowUpstream?.close(resolve));
});

/** The sockets PortState holds as tunnels of the port's current session (private state). */
function boundTunnels(port: number): number {
  const state = proxy.app.ports.get(port) as unknown as { binding?: { tunnels: Set<net.Socket> } };
  return state.binding?.tunnels.size ?? 0;
}

describe('a CONNECT the client gives up on while the upstream answers it', () => {
  it('is not kept among the session tunnels once closed', async () => {
    const port = proxy.ports[0]!;
    const clients = Array.from({ length: ABORTS }, () => {
      const client = net.connect(port, '127.0.0.1', () => client.write('CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n'));
      client.on('error', () => undefined);
      return client;
    });
    // Every CONNECT is at the upstream, unanswered; then every client resets.
    await eventually(() => held.length === ABORTS, 'the upstream holds every CONNECT');
    for (const client of clients) client.resetAndDestroy();
    await eventually(() => proxy.app.listeners.connectionCount() === 0, 'stickyport saw every client go');
    // Now the upstream accepts them all: each is bound to the session, then must be let go.
    for (const socket of held) socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(boundTunnels(port)).toBe(0);
  });
});
