import { once } from 'node:events';
import net from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startStickyport, type RunningProxy } from '../helpers/stickyport.js';

// After a SOCKS refusal the connection was to close within a second, but by an idle timer: a
// client sending a byte every 300 ms reset it and held the refused connection open for good
// (an adversarial pass kept six kinds of refusal open past 30 s). It is a fixed deadline now.

let proxy: RunningProxy;

beforeAll(async () => {
  proxy = await startStickyport({ Logging: { Level: 'warn' } }, { portCount: 1 });
});

afterAll(async () => {
  await proxy?.stop();
});

it('a refused SOCKS5 client that keeps trickling bytes is closed within the deadline, not held open', async () => {
  // Half-open allowed: the client keeps its side open after the reply's FIN, as a hostile one would.
  const socket = net.connect({ host: '127.0.0.1', port: proxy.ports[0]!, allowHalfOpen: true });
  socket.on('error', () => {});
  await once(socket, 'connect');
  // Only a method stickyport does not offer: refused with 0xFF.
  socket.write(Buffer.from([5, 1, 0x80]));
  const [reply] = (await once(socket, 'data')) as [Buffer];
  expect([...reply]).toEqual([5, 0xff]);
  const refusedAt = performance.now();
  const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(performance.now())));
  // A byte every 200 ms for up to 4 s: bounded, and well past the one-second deadline.
  let open = true;
  void closed.then(() => (open = false));
  for (let i = 0; i < 20 && open; i++) {
    if (!socket.destroyed) socket.write(Buffer.from([0]));
    await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 200))]);
  }
  expect(open).toBe(false);
  expect((await closed) - refusedAt).toBeLessThan(2_000);
});
