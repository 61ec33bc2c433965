import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startStickyport, type RunningProxy } from '../helpers/stickyport.js';

// A request with a body bounds its upload with Listen.IdleTimeout, and cleared that timer at
// the body's end. When the answer was out first (an upstream refusal's 502, an upstream's early
// answer, with the connection kept alive), the body's end came after it (Node reads and drops
// the rest), and the timer it cleared was by then Node's keep-alive timer: the idle client
// connection stayed open for good. (Seen first behind SOCKS and https:// upstreams answering an
// upload early.)

let proxy: RunningProxy;
let refusedPort: number;

beforeAll(async () => {
  // A port nobody listens on: the upstream connection is refused, the 502 keeps the connection.
  const probe = net.createServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  refusedPort = (probe.address() as AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve));
  proxy = await startStickyport({ Listen: { IdleTimeout: '300ms', AllowPrivateTargets: true } }, { portCount: 1 });
});

afterAll(async () => {
  await proxy?.stop();
});

it('a connection left idle after an answer given before the body was read closes once Listen.IdleTimeout has passed', async () => {
  const client = net.connect(proxy.ports[0]!, '127.0.0.1');
  client.on('error', () => undefined);
  let answer = '';
  client.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')));
  const closed = once(client, 'close').then(() => 'closed');
  client.write(`POST http://127.0.0.1:${refusedPort}/upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\n\r\nhello`);
  // The 2 s only bound a failing run: the idle timer is 300 ms.
  const outcome = await Promise.race([closed, new Promise((resolve) => setTimeout(() => resolve('still open after 2 s'), 2_000))]);
  client.destroy();
  expect(answer).toMatch(/^HTTP\/1\.1 502 /);
  expect(answer).not.toMatch(/connection: close/i);
  expect(outcome).toBe('closed');
});
