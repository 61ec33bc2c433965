import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closed } from '../helpers/client.js';
import { connectRaw, statusOf } from '../helpers/raw.js';
import { startStack, type Stack } from '../helpers/stack.js';

// Timeouts hold on every connection, whatever it did before; and a short IdleTimeout never
// swallows an answer the client is owed.
const IDLE_MS = 400;
const HEADERS_MS = 600;
let stack: Stack;

beforeAll(async () => {
  stack = await startStack({
    Listen: { IdleTimeout: `${IDLE_MS}ms`, HeadersTimeout: `${HEADERS_MS}ms` },
    Upstream: { ResponseTimeout: '1200ms', ConnectTimeout: '1200ms' },
  });
});
afterAll(() => stack?.stop());

/** Collects what the proxy sends until it closes the connection. */
function collect(socket: net.Socket): Promise<string> {
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  return closed(socket).then(() => Buffer.concat(chunks).toString('latin1'));
}

describe('timeouts hold on every connection', () => {
  it('answers 408 and closes a client whose request head trickles in past Listen.HeadersTimeout', async () => {
    const socket = await connectRaw(stack.proxy.ports[0]!);
    const answer = collect(socket);
    const started = Date.now();
    socket.write(`GET ${stack.origin.url}/ HTTP/1.1\r\nHost: x\r\nX-Slow: `);
    const drip = setInterval(() => socket.writable && socket.write('a'), 100);
    try {
      expect(statusOf(await answer)).toBe(408);
    } finally {
      clearInterval(drip);
    }
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(HEADERS_MS - 50);
    expect(took).toBeLessThan(HEADERS_MS + 1_000);
    expect(stack.upstream.seen.filter((seen) => seen.target.includes('X-Slow'))).toHaveLength(0);
  });

  it('idles out a tunnel opened as the second request of a keep-alive connection', async () => {
    const socket = await connectRaw(stack.proxy.ports[1]!);
    const received: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    socket.write(`GET ${stack.origin.url}/ HTTP/1.1\r\nHost: x\r\n\r\n`);
    await new Promise<void>((resolve) => {
      const check = (): void => {
        if (Buffer.concat(received).toString().includes('hello')) resolve();
        else socket.once('data', check);
      };
      check();
    });
    socket.write(`CONNECT 127.0.0.1:${stack.origin.port} HTTP/1.1\r\nHost: x\r\n\r\n`);
    await new Promise<void>((resolve) => {
      const check = (): void => {
        if (Buffer.concat(received).toString().includes('200 Connection Established')) resolve();
        else socket.once('data', check);
      };
      check();
    });
    const started = Date.now();
    await closed(socket);
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(IDLE_MS - 50);
    expect(took).toBeLessThan(IDLE_MS * 4);
  });

  it('still answers 504 when Listen.IdleTimeout is shorter than Upstream.ResponseTimeout', async () => {
    stack.upstream.mode = 'stall';
    try {
      const socket = await connectRaw(stack.proxy.ports[2]!);
      const answer = collect(socket);
      socket.write(`GET ${stack.origin.url}/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      const text = await answer;
      expect(statusOf(text)).toBe(504);
      expect(text).toMatch(/x-stickyport-error: UPSTREAM_TIMEOUT/i);
    } finally {
      stack.upstream.mode = 'ok';
    }
  });

  it('still answers 504 to a CONNECT when Listen.IdleTimeout is shorter than Upstream.ConnectTimeout', async () => {
    stack.upstream.mode = 'stall';
    try {
      const socket = await connectRaw(stack.proxy.ports[2]!);
      const answer = collect(socket);
      socket.write(`CONNECT 127.0.0.1:${stack.origin.port} HTTP/1.1\r\nHost: x\r\n\r\n`);
      const text = await answer;
      expect(statusOf(text)).toBe(504);
      expect(text).toMatch(/x-stickyport-error: UPSTREAM_TIMEOUT/i);
    } finally {
      stack.upstream.mode = 'ok';
    }
  });
});
