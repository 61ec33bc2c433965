import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getThroughTunnel, request } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { freePort } from '../helpers/ports.js';
import { statusOf } from '../helpers/raw.js';
import { RawClient, greeting, login, request4, request5, socks5Connect } from '../helpers/socks-client.js';
import { startStickyport, type RunningProxy } from '../helpers/stickyport.js';

// Malformed SOCKS handshakes (wrong version, truncated, oversized, slow) get their reply or a
// close within Listen.HeadersTimeout: never a hang, never a crash, and the other ports serve on.
const HEADERS_MS = 600;
let origin: Origin;
let proxy: RunningProxy;

beforeAll(async () => {
  origin = await startOrigin();
  proxy = await startStickyport({ Listen: { HeadersTimeout: `${HEADERS_MS}ms`, IdleTimeout: '10s' } }, { portCount: 2 });
});

afterAll(async () => {
  await proxy?.stop();
  await origin?.close();
});

const target = () => ({ host: '127.0.0.1', port: origin.port });

/** Sends `bytes` and resolves with what came back and how long until the proxy closed. */
async function closesAfter(bytes: Buffer, port = proxy.ports[0]!): Promise<{ answer: Buffer; ms: number }> {
  const client = await RawClient.connect(port);
  const started = Date.now();
  client.send(bytes);
  const answer = await client.untilClosed(HEADERS_MS + 2_000);
  return { answer, ms: Date.now() - started };
}

/** The other port still serves HTTP and SOCKS. */
async function otherPortServes(): Promise<void> {
  expect((await request(proxy.ports[1]!, `${origin.url}/`)).body).toBe('hello');
  const { code, client } = await socks5Connect(proxy.ports[1]!, target());
  expect(code).toBe(0);
  expect((await getThroughTunnel(client.socket, `127.0.0.1:${origin.port}`)).body).toBe('hello');
  client.destroy();
}

describe('wrong versions', () => {
  it('treats a first byte other than 0x04 and 0x05 as HTTP: a 400', async () => {
    const { answer } = await closesAfter(Buffer.from([6, 1, 0]));
    expect(statusOf(answer.toString())).toBe(400);
  });

  it('answers a SOCKS5 request of another version with 0x01 and closes', async () => {
    const { answer } = await closesAfter(Buffer.concat([greeting(0), Buffer.from([4, 1, 0, 1, 127, 0, 0, 1, 0, 80])]));
    expect([...answer]).toEqual([5, 0, 5, 1, 0, 1, 0, 0, 0, 0, 0, 0]);
  });

  it('answers a login sub-negotiation of another version with status 0x01 and closes', async () => {
    const bad = login('a', 'b');
    bad[0] = 5;
    const locked = await startStickyport({ Authentication: { Required: true, Username: 'a', Password: 'b' } }, { portCount: 1 });
    try {
      const { answer } = await closesAfter(Buffer.concat([greeting(2), bad]), locked.ports[0]);
      expect([...answer]).toEqual([5, 2, 1, 1]);
    } finally {
      await locked.stop();
    }
  });
});

describe('truncated handshakes', () => {
  it.each([
    ['a lone version byte', Buffer.from([5])],
    ['a greeting missing a method', Buffer.from([5, 2, 0])],
    ['a request cut in its name', Buffer.concat([greeting(0), request5({ host: 'example.com', port: 80 }).subarray(0, 9)])],
    ['a SOCKS4 request without its user id end', request4({ host: '127.0.0.1', port: 80 }, 'user').subarray(0, 11)],
  ])('closes %s within Listen.HeadersTimeout', async (_name, bytes) => {
    const { ms } = await closesAfter(bytes);
    expect(ms).toBeGreaterThanOrEqual(HEADERS_MS - 50);
    expect(ms).toBeLessThan(HEADERS_MS + 1_000);
  });

  it('closes at once when the client gives up half-way (FIN)', async () => {
    const client = await RawClient.connect(proxy.ports[0]!);
    const started = Date.now();
    client.send(Buffer.from([5, 1]));
    client.socket.end();
    await client.untilClosed();
    expect(Date.now() - started).toBeLessThan(HEADERS_MS);
  });

  it('answers a connection that sends nothing as HTTP does: 408 within Listen.HeadersTimeout', async () => {
    const { answer, ms } = await closesAfter(Buffer.alloc(0));
    expect(statusOf(answer.toString())).toBe(408);
    expect(ms).toBeLessThan(HEADERS_MS + 1_000);
  });
});

describe('the session API inside a SOCKS CONNECT', () => {
  it('answers a request head trickling in past Listen.HeadersTimeout with 408, as over HTTP', async () => {
    const { code, client } = await socks5Connect(proxy.ports[0]!, { host: 'portmapper', port: 80 });
    expect(code).toBe(0);
    const started = Date.now();
    client.send('GET /session/ HTTP/1.1\r\nHost: portmapper\r\nX-Slow: ');
    const drip = setInterval(() => !client.closed && client.send('a'), 100);
    try {
      expect(statusOf((await client.untilClosed(HEADERS_MS + 2_000)).toString())).toBe(408);
    } finally {
      clearInterval(drip);
    }
    expect(Date.now() - started).toBeLessThan(HEADERS_MS + 1_000);
  });
});

describe('oversized handshakes', () => {
  it('refuses a SOCKS4 user id longer than 255 bytes with 0x5B', async () => {
    const { answer, ms } = await closesAfter(Buffer.concat([request4(target()).subarray(0, 8), Buffer.alloc(2_000, 'u')]));
    expect([...answer]).toEqual([0, 0x5b, 0, 0, 0, 0, 0, 0]);
    expect(ms).toBeLessThan(HEADERS_MS);
  });

  it('refuses a SOCKS4a host name longer than 255 bytes with 0x5B', async () => {
    const { answer } = await closesAfter(request4({ host: 'a'.repeat(300), port: 80 }));
    expect(answer[1]).toBe(0x5b);
  });

  it('reads a megabyte of garbage after a greeting as a bad request: 0x01, then close', async () => {
    const garbage = Buffer.alloc(1 << 20, 0x41);
    const { answer, ms } = await closesAfter(Buffer.concat([greeting(0), garbage]));
    expect([...answer.subarray(0, 4)]).toEqual([5, 0, 5, 1]);
    expect(ms).toBeLessThan(HEADERS_MS + 1_000);
  });
});

describe('slow handshakes', () => {
  it('closes a handshake dripping one byte every 100 ms within Listen.HeadersTimeout, other ports unaffected', async () => {
    const client = await RawClient.connect(proxy.ports[0]!);
    const bytes = Buffer.concat([greeting(0), request5(target())]);
    const started = Date.now();
    let sent = 0;
    const drip = setInterval(() => {
      if (sent < bytes.length && !client.closed) client.send(bytes.subarray(sent, ++sent));
    }, 100);
    try {
      await otherPortServes();
      await client.untilClosed(HEADERS_MS + 2_000);
    } finally {
      clearInterval(drip);
    }
    expect(Date.now() - started).toBeLessThan(HEADERS_MS + 1_000);
    expect(sent).toBeLessThan(bytes.length);
  });
});

describe('random bytes', () => {
  it('survives 300 random handshakes starting with 0x04 or 0x05, and every port serves on', async () => {
    // Random bytes can spell a valid CONNECT to any address: this proxy's only way out is an
    // upstream on a closed local port, so nothing ever leaves 127.0.0.1.
    const dead = await startStickyport({ Upstream: { Url: `http://u:p@127.0.0.1:${await freePort()}` } }, { portCount: 2 });
    try {
      const clients: Array<Promise<unknown>> = [];
      for (let i = 0; i < 300; i++) {
        const bytes = randomBytes(1 + (i % 40));
        bytes[0] = i % 2 ? 4 : 5;
        clients.push(
          RawClient.connect(dead.ports[i % 2]!).then(async (client) => {
            client.send(bytes);
            if (i % 3 === 0) client.socket.end();
            await client.untilClosed(HEADERS_MS + 3_000).catch(() => client.destroy());
          }),
        );
      }
      await Promise.all(clients);
      for (const port of dead.ports) {
        expect((await request(port, 'http://portmapper/session/')).status).toBe(200);
        const { code, client } = await socks5Connect(port, target());
        expect(code).toBe(0x05);
        client.destroy();
      }
      expect(dead.logs.some((line) => line.includes('BUG'))).toBe(false);
      expect(dead.app.listeners.status().every((status) => status.listening)).toBe(true);
    } finally {
      await dead.stop();
    }
  }, 20_000);
});
