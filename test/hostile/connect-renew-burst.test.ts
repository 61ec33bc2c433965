import { afterAll, beforeAll, expect, it } from 'vitest';
import { openTunnel } from '../helpers/client.js';
import { startEchoServer } from '../helpers/echo-server.js';
import { eventually } from '../helpers/eventually.js';
import { startStickyport, type RunningProxy } from '../helpers/stickyport.js';

// 40 CONNECTs at once, each with X-Stickyport-Session: new. Each rotation closes the tunnels of
// the session before it: every client gets exactly one answer, the last session's tunnel (at
// least) stays usable, and the closed ones leave nothing open behind.

let echo: Awaited<ReturnType<typeof startEchoServer>>;
let proxy: RunningProxy;
beforeAll(async () => {
  echo = await startEchoServer();
  proxy = await startStickyport({ Logging: { Level: 'warn' } }, { portCount: 1 });
});
afterAll(async () => {
  await proxy?.stop();
  await echo?.close();
});

it('a burst of renewing CONNECTs: one answer each, the survivors work, nothing leaks', async () => {
  const [port] = proxy.ports as [number];
  const tunnels = await Promise.all(Array.from({ length: 40 }, () => openTunnel(port, `127.0.0.1:${echo.port}`, { 'X-Stickyport-Session': 'new' })));
  expect(tunnels.every((tunnel) => tunnel.status === 200)).toBe(true);
  const alive = tunnels.filter((tunnel) => !tunnel.socket.destroyed);
  const echoed = await Promise.all(
    alive.map(
      (tunnel) =>
        new Promise<string>((resolve) => {
          let got = '';
          tunnel.socket.on('data', (chunk: Buffer) => {
            got += chunk.toString();
            if (got === 'ping') resolve(got);
          });
          tunnel.socket.once('close', () => resolve(`closed:${got}`));
          tunnel.socket.on('error', () => undefined);
          tunnel.socket.write('ping');
        }),
    ),
  );
  // The port's current session carries at least one of them.
  expect(echoed.filter((text) => text === 'ping').length).toBeGreaterThanOrEqual(1);
  expect(echoed.every((text) => text === 'ping' || text.startsWith('closed:'))).toBe(true);
  for (const tunnel of tunnels) tunnel.socket.destroy();
  await eventually(() => proxy.app.status()[0]!.connections === 0, 'every client connection closed');
});
