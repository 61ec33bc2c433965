// Regression (adversarial review): a plain request whose answer is still pending, pipelined with
// a WebSocket upgrade request on the same connection, kills the whole process. Node emits
// 'upgrade' while the first request's ServerResponse still owns the socket; onUpgrade's
// `response.assignSocket(socket)` (outside its try block) throws ERR_HTTP_SOCKET_ASSIGNED, the
// promise returned to `void this.onUpgrade(...)` rejects unhandled, and Node exits: every port
// goes down. It happens before the client login is checked, so Authentication.Required does
// not protect against it.
import net from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { basic, request } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { freePortRange } from '../helpers/ports.js';
import { spawnStickyport, writeConfig, type SpawnedStickyport } from '../helpers/spawn-stickyport.js';

let origin: Origin;
const running: SpawnedStickyport[] = [];
beforeAll(async () => {
  origin = await startOrigin();
});
afterAll(() => origin?.close());
afterEach(async () => {
  await Promise.all(running.splice(0).map((proc) => proc.stop('SIGKILL')));
});

async function start(extra: Record<string, unknown> = {}): Promise<{ proc: SpawnedStickyport; port: number }> {
  const port = await freePortRange(1);
  const proc = spawnStickyport(['--config', writeConfig({ Listen: { PortRange: { Start: port, End: port } }, ...extra })]);
  running.push(proc);
  await proc.waitForLine(/stickyport listening/);
  return { proc, port };
}

/** Writes `bytes` and waits until the proxy closes the connection (or 2 s pass). */
function sendAndWait(port: number, bytes: string): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(bytes));
    const done = (): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve();
    };
    const timer = setTimeout(done, 2_000);
    socket.on('data', () => undefined);
    socket.on('error', done);
    socket.on('close', done);
  });
}

function pipelinedGetThenUpgrade(authority: string): string {
  return (
    `GET http://${authority}/ HTTP/1.1\r\nHost: ${authority}\r\n\r\n` +
    `GET http://${authority}/ws HTTP/1.1\r\nHost: ${authority}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
    'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n'
  );
}

describe('a GET pipelined with a WebSocket upgrade on one connection', () => {
  it('does not kill the process: the port keeps answering', async () => {
    const { proc, port } = await start();
    await sendAndWait(port, pipelinedGetThenUpgrade(`127.0.0.1:${origin.port}`));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(proc.stderr.join('')).not.toContain('ERR_HTTP_SOCKET_ASSIGNED');
    expect(proc.child.exitCode).toBeNull();
    expect((await request(port, `${origin.url}/`)).status).toBe(200);
  });

  it('does not kill the process when the client has no login and Authentication.Required is on', async () => {
    const { proc, port } = await start({ Authentication: { Required: true, Username: 'user', Password: 'pass' } });
    await sendAndWait(port, pipelinedGetThenUpgrade(`127.0.0.1:${origin.port}`));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(proc.child.exitCode).toBeNull();
    const answer = await request(port, `${origin.url}/`, { headers: { 'proxy-authorization': basic('user', 'pass') } });
    expect(answer.status).toBe(200);
  });
});
