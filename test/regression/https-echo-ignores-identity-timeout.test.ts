import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { request } from '../helpers/client.js';
import { startStickyport, type RunningProxy } from '../helpers/stickyport.js';

// Identity.Timeout: "an echo or keep-alive request gets this long to answer in full". For an
// https:// echo URL the tunnel is opened first, and the deadline was only armed once it was
// open: an upstream that takes the CONNECT and says nothing held the check for the whole
// Upstream.ConnectTimeout instead.

let silent: net.Server;
const sockets = new Set<net.Socket>();
let proxy: RunningProxy;

beforeAll(async () => {
  silent = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.resume();
  });
  silent.listen(0, '127.0.0.1');
  await once(silent, 'listening');
  const port = (silent.address() as AddressInfo).port;
  proxy = await startStickyport(
    {
      Upstream: { Url: `http://127.0.0.1:${port}`, ConnectTimeout: '20s' },
      Identity: { EchoUrl: 'https://echo.example:443/ip', Timeout: '1s' },
      Logging: { Level: 'warn' },
    },
    { portCount: 1 },
  );
});
afterAll(async () => {
  await proxy?.stop();
  for (const socket of sockets) socket.destroy();
  await new Promise<void>((resolve) => silent.close(() => resolve()));
});

it('an https echo through an upstream that never answers the CONNECT fails within Identity.Timeout', async () => {
  const startedAt = Date.now();
  const answer = await request(proxy.ports[0]!, 'http://portmapper/session/?ip=1');
  expect(answer.status).toBe(502);
  expect(answer.body).toContain('identity_unavailable');
  // 1 s asked; well under the 20 s ConnectTimeout.
  expect(Date.now() - startedAt).toBeLessThan(5_000);
});
