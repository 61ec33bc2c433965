import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logged } from '../helpers/admin.js';
import { basic, closed, openTunnel, request } from '../helpers/client.js';
import { eventually } from '../helpers/eventually.js';
import { connectRaw, rawExchange, statusOf } from '../helpers/raw.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { greeting, RawClient, request5, socks4Connect } from '../helpers/socks-client.js';
import { startStickyport, upstreamUrl, type RunningProxy, type Settings } from '../helpers/stickyport.js';

// One info line per finished request or tunnel, with the fields the issue lists, whether or not
// the admin server runs (it does not here).

let origin: Origin;
let upstream: RecordingUpstream;

beforeAll(async () => {
  origin = await startOrigin();
  upstream = await startRecordingUpstream('upsecret');
});

afterAll(async () => {
  await upstream?.close();
  await origin?.close();
});

async function withProxy(settings: Settings, body: (proxy: RunningProxy) => Promise<void>, portCount = 1): Promise<void> {
  const proxy = await startStickyport({ Upstream: { Url: upstreamUrl(upstream.port, 'upsecret') }, Logging: { Level: 'info' }, ...settings }, { portCount });
  try {
    await body(proxy);
  } finally {
    await proxy.stop();
  }
}

const completed = (proxy: RunningProxy) => logged(proxy.logs, 'request completed');

describe('the request log', () => {
  it('logs a plain request at info: port, mapping, session, method, host, path without its query, status, bytes, times, outcome', async () => {
    await withProxy({}, async (proxy) => {
      const port = proxy.ports[0]!;
      const answer = await request(port, `${origin.url}/headers?token=s3cr3t&x=1`);
      expect(answer.status).toBe(200);
      await eventually(() => completed(proxy).length === 1, 'one line');
      const [line] = completed(proxy);
      expect(line).toMatchObject({
        level: 30,
        component: 'requests',
        port,
        mapping: 'default',
        sessionId: upstream.seen.at(-1)!.session,
        kind: 'http',
        method: 'GET',
        host: `127.0.0.1:${origin.port}`,
        path: '/headers',
        status: 200,
        outcome: 'OK',
        bytesUp: 0,
        bytesDown: Buffer.byteLength(answer.body),
      });
      expect(line!.durationMs).toBeGreaterThan(0);
      expect(line!.upstreamMs).toBeGreaterThan(0);
      expect(line!.upstreamMs).toBeLessThanOrEqual(line!.durationMs);
      expect(proxy.logs.join('\n')).not.toContain('s3cr3t');
      // Times stickyport adds are ISO 8601.
      expect(logged(proxy.logs, 'session created')[0]!.expiresAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    });
  });

  it('keeps the query string with Logging.RequestUrls, counts an upload, and never logs credentials in a URI', async () => {
    await withProxy({ Logging: { Level: 'info', RequestUrls: true } }, async (proxy) => {
      const port = proxy.ports[0]!;
      await request(port, `${origin.url}/headers?page=2`);
      await request(port, `http://someone:pa55word@127.0.0.1:${origin.port}/`);
      const body = 'x'.repeat(3000);
      await request(port, `${origin.url}/echo`, { method: 'POST', body, headers: { 'content-length': body.length } });
      await request(port, `${origin.url}/echo`, { method: 'POST', body, headers: { 'transfer-encoding': 'chunked' } });
      await eventually(() => completed(proxy).length === 4, 'four lines');
      const [query, credentials, upload, chunked] = completed(proxy);
      expect(query!.path).toBe('/headers?page=2');
      expect(credentials!.host).toBe(`127.0.0.1:${origin.port}`);
      expect(proxy.logs.join('\n')).not.toContain('pa55word');
      expect(upload).toMatchObject({ method: 'POST', bytesUp: 3000, bytesDown: 3000, status: 200 });
      expect(chunked).toMatchObject({ method: 'POST', bytesUp: 3000, bytesDown: 3000, status: 200 });
    });
  });

  it('logs a CONNECT tunnel and a SOCKS4 tunnel once they close, with their bytes and the time to open them', async () => {
    await withProxy({}, async (proxy) => {
      const port = proxy.ports[0]!;
      const tunnel = await openTunnel(port, `127.0.0.1:${origin.port}`);
      tunnel.socket.end(`GET /bytes/4000 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
      tunnel.socket.resume();
      await closed(tunnel.socket);
      const socks = await socks4Connect(port, { host: '127.0.0.1', port: origin.port });
      expect(socks.code).toBe(0x5a);
      socks.client.send('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      await socks.client.untilClosed();
      await eventually(() => completed(proxy).length === 2, 'two lines');
      const [connect, socks4] = completed(proxy);
      expect(connect).toMatchObject({ kind: 'connect', method: 'CONNECT', host: `127.0.0.1:${origin.port}`, status: 200, outcome: 'OK', sessionId: expect.any(String) });
      expect(connect!.path).toBeUndefined();
      expect(connect!.bytesDown).toBeGreaterThan(4000);
      expect(connect!.bytesUp).toBeGreaterThan(40);
      expect(connect!.upstreamMs).toBeGreaterThan(0);
      expect(socks4).toMatchObject({ kind: 'socks4', method: 'CONNECT', status: 200, outcome: 'OK' });
      expect(socks4!.bytesDown).toBeGreaterThan(5);
    });
  });

  it('logs refusals with their outcome code: a 407, an upstream refusing the login, a relative URL', async () => {
    await withProxy({ Authentication: { Required: true, Username: 'alice', Password: 'clientsecret' } }, async (proxy) => {
      const port = proxy.ports[0]!;
      expect((await request(port, `${origin.url}/`)).status).toBe(407);
      upstream.mode = '407';
      try {
        expect((await request(port, `${origin.url}/`, { headers: { 'proxy-authorization': basic('alice', 'clientsecret') } })).status).toBe(502);
      } finally {
        upstream.mode = 'ok';
      }
      expect((await request(port, '/nothing')).status).toBe(400);
      await eventually(() => completed(proxy).length === 3, 'three lines');
      const [login, upstreamAuth, relative] = completed(proxy);
      expect(login).toMatchObject({ status: 407, outcome: 'AUTH_REQUIRED', host: `127.0.0.1:${origin.port}` });
      expect(upstreamAuth).toMatchObject({ status: 502, outcome: 'UPSTREAM_AUTH', sessionId: expect.any(String) });
      expect(relative).toMatchObject({ status: 400, outcome: 'BAD_REQUEST', host: '' });
      expect(proxy.logs.join('\n')).not.toMatch(/clientsecret|upsecret/);
    });
  });

  // A refused CONNECT was logged with its raw target: user info and a query reached the log.
  it('a refused CONNECT is logged as host:port only, never with the user info or query it carried', async () => {
    await withProxy({}, async (proxy) => {
      const port = proxy.ports[0]!;
      const refused = await rawExchange(port, `CONNECT alice:S3CRETPW@127.0.0.1:${origin.port} HTTP/1.1\r\nHost: x\r\n\r\n`);
      expect(statusOf(refused)).toBe(400);
      expect(statusOf(await rawExchange(port, `CONNECT 127.0.0.1:${origin.port}?token=S3CRETTOKEN HTTP/1.1\r\nHost: x\r\n\r\n`))).toBe(400);
      // A password holding "/" or "?" itself.
      expect(statusOf(await rawExchange(port, `CONNECT alice:S3CRET/PW?x@127.0.0.1:${origin.port} HTTP/1.1\r\nHost: x\r\n\r\n`))).toBe(400);
      await eventually(() => completed(proxy).length === 3, 'three lines');
      expect(completed(proxy).map((line) => line.host)).toEqual([1, 2, 3].map(() => `127.0.0.1:${origin.port}`));
      expect(proxy.logs.join('\n')).not.toMatch(/S3CRET/);
    });
  });

  // Our own abort, once the client had gone, was recorded as the upstream's failure.
  it('a client that leaves mid-answer is CLIENT_CLOSED, not an upstream failure', async () => {
    await withProxy({}, async (proxy) => {
      const port = proxy.ports[0]!;
      const socket = await connectRaw(port);
      socket.write(`GET ${origin.url}/bytes/${64 * 1024 * 1024} HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\n\r\n`);
      await new Promise((resolve) => socket.once('data', resolve));
      socket.destroy();
      await eventually(() => completed(proxy).length === 1, 'one line');
      expect(completed(proxy)[0]).toMatchObject({ status: 200, outcome: 'CLIENT_CLOSED' });
    });
  });

  // A tunnel whose client reset before it opened got no line at all (the upstream then opened
  // it for no one), or the upstream's later failure, which no one was answered with.
  it.each(['opens', 'fails'] as const)('a tunnel whose client leaves before it opens is CLIENT_CLOSED (the upstream then %s)', async (then) => {
    await withProxy({ Upstream: { Url: upstreamUrl(upstream.port, 'upsecret'), ConnectTimeout: then === 'fails' ? '400ms' : '10s' } }, async (proxy) => {
      upstream.connectDelayMs = then === 'fails' ? 5_000 : 300;
      try {
        const from = upstream.seen.length;
        const socket = await connectRaw(proxy.ports[0]!);
        socket.on('error', () => undefined);
        socket.write(`CONNECT 127.0.0.1:${origin.port} HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\n\r\n`);
        await eventually(() => upstream.seen.length > from, 'the CONNECT upstream');
        socket.resetAndDestroy();
        await eventually(() => completed(proxy).length === 1, 'one line');
        expect(completed(proxy)[0]).toMatchObject({ kind: 'connect', status: 0, outcome: 'CLIENT_CLOSED' });
      } finally {
        upstream.connectDelayMs = 0;
      }
    });
  });

  it('a SOCKS5 tunnel whose client leaves before it opens is CLIENT_CLOSED too', async () => {
    await withProxy({ Upstream: { Url: upstreamUrl(upstream.port, 'upsecret'), ConnectTimeout: '400ms' } }, async (proxy) => {
      upstream.connectDelayMs = 5_000;
      try {
        const from = upstream.seen.length;
        const client = await RawClient.connect(proxy.ports[0]!);
        client.send(greeting(0));
        await client.read(2);
        client.send(request5({ host: '127.0.0.1', port: origin.port }));
        await eventually(() => upstream.seen.length > from, 'the CONNECT upstream');
        client.socket.resetAndDestroy();
        await eventually(() => completed(proxy).length === 1, 'one line');
        expect(completed(proxy)[0]).toMatchObject({ kind: 'socks5', status: 0, outcome: 'CLIENT_CLOSED' });
      } finally {
        upstream.connectDelayMs = 0;
      }
    });
  });

  it('"errors" logs failures only; false logs none; a level above info none either', async () => {
    for (const [settings, expected] of [
      [{ Logging: { Level: 'info', Requests: 'errors' } }, ['UPSTREAM_STATUS']],
      [{ Logging: { Level: 'info', Requests: false } }, []],
      [{ Logging: { Level: 'warn' } }, []],
    ] as const) {
      await withProxy(settings, async (proxy) => {
        const port = proxy.ports[0]!;
        await request(port, `${origin.url}/`);
        upstream.mode = '503';
        try {
          const refused = await openTunnel(port, `127.0.0.1:${origin.port}`);
          refused.socket.destroy();
        } finally {
          upstream.mode = 'ok';
        }
        // The tunnel's failure is logged as a warning as well: wait for that one.
        await eventually(() => proxy.logs.some((line) => line.includes('UPSTREAM_STATUS')), 'the refusal');
        await request(port, `${origin.url}/`);
        // Stopping writes the lines still waiting for their batch.
        await proxy.stop();
        expect(completed(proxy).map((line) => line.outcome)).toEqual(expected);
      });
    }
  });
});
