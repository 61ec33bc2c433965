import { once } from 'node:events';
import net from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { freePort } from '../helpers/ports.js';
import { startStickyport, type RunningProxy } from '../helpers/stickyport.js';

// s32 real clients F1: an upload answered before its body was read (a 502 for an upstream that
// refused the connection, a 407 for a missing login, the session API's answer to a call sent
// with a body) closed the connection at once with the body unread. The client's next bytes then
// met a closed socket, its kernel got a reset, and a client that reads only once its upload is
// written (wget) failed at the write and never showed the answer: "Giving up.", 3/3 at 5 MiB.
// The connection now closes lingering (RFC 9112 9.6): FIN, then the rest read and dropped.

const BODY = 8 * 1024 * 1024;
const CHUNK = Buffer.alloc(64 * 1024, 0x78);

/** As wget does: the whole body written first (with backpressure), the answer read only then. */
async function uploadThenRead(port: number, head: string): Promise<{ writeError?: string; answer: string; closed: boolean }> {
  const client = net.connect(port, '127.0.0.1');
  await once(client, 'connect');
  client.pause();
  let writeError: string | undefined;
  client.on('error', (error: NodeJS.ErrnoException) => (writeError ??= error.code ?? error.message));
  client.write(head);
  for (let sent = 0; sent < BODY && writeError === undefined && !client.destroyed; sent += CHUNK.length) {
    if (!client.write(CHUNK)) await Promise.race([once(client, 'drain'), once(client, 'close')]);
  }
  let answer = '';
  client.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')));
  client.resume();
  // Bounds a failing run only: the answer is in the receive queue by now.
  const closed = await Promise.race([once(client, 'end').then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 3_000))]);
  client.destroy();
  return { writeError, answer, closed };
}

let open: RunningProxy;
let login: RunningProxy;
let refusedPort: number;

beforeAll(async () => {
  // A port nobody listens on: the upstream connection is refused.
  refusedPort = await freePort();
  open = await startStickyport({ Listen: { IdleTimeout: '10s', AllowPrivateTargets: true } }, { portCount: 1 });
  login = await startStickyport({ Listen: { IdleTimeout: '10s' }, Authentication: { Required: true, Username: 'alice', Password: 'pw' } }, { portCount: 1 });
});

afterAll(async () => {
  await Promise.all([open?.stop(), login?.stop()]);
});

it.each([
  ['a 502 for an upstream that refused the connection', () => open.ports[0]!, () => `POST http://127.0.0.1:${refusedPort}/up HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${BODY}\r\n\r\n`, 502],
  ['a 407 for an upload without the required login', () => login.ports[0]!, () => `POST http://127.0.0.1:9/up HTTP/1.1\r\nHost: 127.0.0.1:9\r\nContent-Length: ${BODY}\r\n\r\n`, 407],
  ['a 407 for a chunked upload without the required login', () => login.ports[0]!, () => `POST http://127.0.0.1:9/up HTTP/1.1\r\nHost: 127.0.0.1:9\r\nTransfer-Encoding: chunked\r\n\r\n${(BODY - 16).toString(16)}\r\n`, 407],
  ['the session API answering a call sent with a body', () => open.ports[0]!, () => `POST http://portmapper/session/ HTTP/1.1\r\nHost: portmapper\r\nContent-Length: ${BODY}\r\n\r\n`, 405],
])('%s reaches a client that reads only after writing its whole upload', async (_name, port, head, status) => {
  const { writeError, answer, closed } = await uploadThenRead(port(), head());
  expect(writeError).toBeUndefined();
  expect(answer).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
  expect(answer).toMatch(/connection: close/i);
  // Closed by stickyport once the answer is out (its FIN), not left open.
  expect(closed).toBe(true);
});

// s32 review: a connection lingering after such an answer held a stop for its whole drain time
// (2 s against 51 ms without it): it owes nothing, and is cut when the stop begins.
it('a stop does not wait for a connection lingering after its answer', async () => {
  const proxy = await startStickyport({ Listen: { IdleTimeout: '30s', AllowPrivateTargets: true } }, { portCount: 1 });
  // Half-open allowed: the stop's FIN does not end the client's side (wget, still uploading).
  const client = net.connect({ port: proxy.ports[0]!, host: '127.0.0.1', allowHalfOpen: true });
  client.on('error', () => undefined);
  let answer = '';
  client.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')));
  client.write(`POST http://127.0.0.1:${refusedPort}/up HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${BODY}\r\n\r\n`);
  client.write(CHUNK);
  await new Promise<void>((resolve) => client.on('data', () => answer.includes('\r\n\r\n') && resolve()));
  expect(answer).toMatch(/^HTTP\/1\.1 502 /);
  // The client neither closes nor sends more: the connection lingers until the stop, which
  // waits for every connection to close (or its drain time to pass) before it resolves.
  const drainMs = 5_000;
  const stopped = proxy.app.stop(drainMs).then(() => 'stopped');
  const first = await Promise.race([stopped, new Promise((resolve) => setTimeout(() => resolve('still stopping'), drainMs / 2))]);
  client.destroy();
  expect(first).toBe('stopped');
});
