import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closed, openTunnel, request } from '../helpers/client.js';
import { eventually } from '../helpers/eventually.js';
import type { Origin } from '../helpers/origin.js';
import { connectRaw, rawExchange, statusOf } from '../helpers/raw.js';
import type { RecordingUpstream } from '../helpers/recording-upstream.js';
import { startStack, type Stack } from '../helpers/stack.js';
import type { RunningProxy } from '../helpers/stickyport.js';

const IDLE_MS = 400;
let stack: Stack;
let origin: Origin;
let upstream: RecordingUpstream;
let proxy: RunningProxy;

beforeAll(async () => {
  ({ origin, upstream, proxy } = stack = await startStack({ Listen: { IdleTimeout: `${IDLE_MS}ms` } }));
});

afterAll(() => stack?.stop());

/** After each bad request the proxy still serves, on the same port and the others. */
async function stillServing(): Promise<void> {
  for (const port of proxy.ports) expect((await request(port, `${origin.url}/`)).status).toBe(200);
}

describe('bad input gets a clear status and disturbs nothing', () => {
  it.each([
    ['a malformed request line', 'GARBAGE\r\n\r\n', [400]],
    ['a header line without a colon', 'GET http://127.0.0.1/ HTTP/1.1\r\nHost: x\r\nNoColonHere\r\n\r\n', [400]],
    ['oversized headers', `GET http://127.0.0.1/ HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(64 * 1024)}\r\n\r\n`, [400, 431]],
    ['a relative URL', 'GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n', [400]],
    ['an ftp:// URL', 'GET ftp://127.0.0.1/file HTTP/1.1\r\nHost: x\r\n\r\n', [400]],
    ['an https:// absolute URL (needs CONNECT)', 'GET https://127.0.0.1/ HTTP/1.1\r\nHost: x\r\n\r\n', [400]],
    ['a CONNECT without a port', 'CONNECT example.com HTTP/1.1\r\nHost: example.com\r\n\r\n', [400]],
    ['a CONNECT to garbage', 'CONNECT :::: HTTP/1.1\r\nHost: x\r\n\r\n', [400]],
  ])('answers %s with %j', async (_, bytes, statuses) => {
    const seen = upstream.seen.length;
    const answer = await rawExchange(proxy.ports[0]!, bytes);
    expect(statuses).toContain(statusOf(answer));
    expect(upstream.seen.length).toBe(seen);
    await stillServing();
  });

  it('hints at proxy use when a relative URL arrives', async () => {
    const answer = await request(proxy.ports[1]!, '/');
    expect(answer.status).toBe(400);
    expect(answer.body).toContain('curl -x http://127.0.0.1:PORT');
  });

  it('closes a connection that sends nothing after Listen.IdleTimeout', async () => {
    const socket = await connectRaw(proxy.ports[0]!);
    const started = Date.now();
    await closed(socket);
    expect(Date.now() - started).toBeGreaterThanOrEqual(IDLE_MS - 50);
    expect(Date.now() - started).toBeLessThan(IDLE_MS * 5);
  });

  it('closes an idle tunnel after Listen.IdleTimeout, and its upstream side with it', async () => {
    const baseline = upstream.openConnections();
    const tunnel = await openTunnel(proxy.ports[1]!, `127.0.0.1:${origin.port}`);
    expect(tunnel.status).toBe(200);
    expect(upstream.openConnections()).toBeGreaterThan(baseline);
    const started = Date.now();
    await closed(tunnel.socket);
    expect(Date.now() - started).toBeGreaterThanOrEqual(IDLE_MS - 50);
    await eventually(() => upstream.openConnections() <= baseline, 'the upstream side closed');
  });

  it('cleans up both sides when a client disconnects mid-request', async () => {
    const baseline = upstream.openConnections();
    const socket = await connectRaw(proxy.ports[2]!);
    socket.write(`POST ${origin.url}/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n${'x'.repeat(1000)}`);
    await upstream.waitForRequests(upstream.seen.length + 1);
    socket.destroy();
    await eventually(() => proxy.app.listeners.connectionCount(proxy.ports[2]!) === 0, 'the proxy dropped the client');
    await eventually(() => upstream.openConnections() <= baseline, 'the upstream side closed');
  });

  it('cleans up both sides when a client disconnects mid-tunnel', async () => {
    const baseline = upstream.openConnections();
    const tunnel = await openTunnel(proxy.ports[2]!, `127.0.0.1:${origin.port}`);
    expect(tunnel.status).toBe(200);
    tunnel.socket.write('GET / HTTP/1.1\r\nHost: x\r\n');
    tunnel.socket.destroy();
    await eventually(() => proxy.app.listeners.connectionCount(proxy.ports[2]!) === 0, 'the proxy dropped the client');
    await eventually(() => upstream.openConnections() <= baseline, 'the upstream side closed');
  });
});
