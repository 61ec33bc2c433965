import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { apiJson, getThroughTunnel } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { freePort } from '../helpers/ports.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { selfSigned } from '../helpers/self-signed.js';
import { RawClient, greeting, login, request4, request5, socks4Connect, socks5Connect } from '../helpers/socks-client.js';
import { startStickyport, upstreamUrl, type RunningProxy } from '../helpers/stickyport.js';

// Every SOCKS reply code, read from a raw socket: what each failure becomes, and that it is
// logged as an HTTP CONNECT failure is (code and port).
let origin: Origin;
let upstream: RecordingUpstream;
let tlsUpstream: RecordingUpstream;
let direct: RunningProxy;
let guarded: RunningProxy;
let chained: RunningProxy;
let untrusted: RunningProxy;
let locked: RunningProxy;

beforeAll(async () => {
  origin = await startOrigin();
  upstream = await startRecordingUpstream();
  tlsUpstream = await startRecordingUpstream('secret', selfSigned());
  direct = await startStickyport({}, { portCount: 2 });
  guarded = await startStickyport({ Listen: { AllowPrivateTargets: false } }, { portCount: 1 });
  chained = await startStickyport({ Upstream: { Url: upstreamUrl(upstream.port), ConnectTimeout: '500ms' } }, { portCount: 1 });
  // Not trusted: the in-process tests run without NODE_EXTRA_CA_CERTS.
  untrusted = await startStickyport(
    { Upstream: { Url: `https://customer-{session}:secret@127.0.0.1:${tlsUpstream.port}` } },
    { portCount: 1 },
  );
  locked = await startStickyport({ Authentication: { Required: true, Username: 'alice', Password: 's3cret' } }, { portCount: 1 });
});

afterAll(async () => {
  await Promise.all([direct, guarded, chained, untrusted, locked].map((proxy) => proxy?.stop()));
  await Promise.all([upstream?.close(), tlsUpstream?.close(), origin?.close()]);
});

beforeEach(() => {
  upstream.mode = 'ok';
});

const originTarget = () => ({ host: '127.0.0.1', port: origin.port });

/** The last log line of `proxy` that carries a SOCKS reply code. */
function lastSocksLog(proxy: RunningProxy): Record<string, unknown> {
  const line = proxy.logs.filter((entry) => entry.includes('"reply"')).at(-1);
  return line ? (JSON.parse(line) as Record<string, unknown>) : {};
}

describe('SOCKS5 replies', () => {
  it('0x00: granted, and the tunnel carries the request', async () => {
    const { code, client } = await socks5Connect(direct.ports[0]!, originTarget());
    expect(code).toBe(0x00);
    expect((await getThroughTunnel(client.socket, `127.0.0.1:${origin.port}`)).body).toBe('hello');
    client.destroy();
  });

  it('0x01: general failure when the upstream refuses the tunnel (503) or the login (407)', async () => {
    for (const mode of ['503', '407'] as const) {
      upstream.mode = mode;
      const { code, client } = await socks5Connect(chained.ports[0]!, originTarget());
      expect(code).toBe(0x01);
      await client.untilClosed();
      expect(lastSocksLog(chained)).toMatchObject({ code: mode === '503' ? 'UPSTREAM_STATUS' : 'UPSTREAM_AUTH', socks: 5, reply: 1 });
    }
  });

  it('0x02: not allowed for a private target that Listen.AllowPrivateTargets forbids', async () => {
    const { code, client } = await socks5Connect(guarded.ports[0]!, originTarget());
    expect(code).toBe(0x02);
    await client.untilClosed();
    expect(lastSocksLog(guarded)).toMatchObject({ code: 'TARGET_FORBIDDEN', port: guarded.ports[0], reply: 2, level: 40 });
  });

  it('0x04: host unreachable when the upstream cannot be reached (an untrusted TLS certificate)', async () => {
    const { code, client } = await socks5Connect(untrusted.ports[0]!, originTarget());
    expect(code).toBe(0x04);
    await client.untilClosed();
    expect(lastSocksLog(untrusted)).toMatchObject({ code: 'UPSTREAM_UNREACHABLE' });
  });

  it('0x05: connection refused by the target', async () => {
    const { code, client } = await socks5Connect(direct.ports[0]!, { host: '127.0.0.1', port: await freePort() });
    expect(code).toBe(0x05);
    await client.untilClosed();
    expect(lastSocksLog(direct)).toMatchObject({ code: 'UPSTREAM_REFUSED', reply: 5 });
  });

  it('0x06: TTL expired when the upstream does not answer within Upstream.ConnectTimeout', async () => {
    upstream.mode = 'stall';
    const started = Date.now();
    const { code, client } = await socks5Connect(chained.ports[0]!, originTarget());
    expect(code).toBe(0x06);
    expect(Date.now() - started).toBeGreaterThanOrEqual(450);
    await client.untilClosed();
    expect(lastSocksLog(chained)).toMatchObject({ code: 'UPSTREAM_TIMEOUT', reply: 6 });
  });

  it('0x07: command not supported for BIND and UDP ASSOCIATE', async () => {
    for (const command of [2, 3]) {
      const client = await RawClient.connect(direct.ports[0]!);
      client.send(greeting(0));
      expect([...(await client.read(2))]).toEqual([5, 0]);
      client.send(request5(originTarget(), command));
      expect((await client.read(10))[1]).toBe(0x07);
      await client.untilClosed();
    }
  });

  it('0x08: address type not supported', async () => {
    const client = await RawClient.connect(direct.ports[0]!);
    client.send(Buffer.concat([greeting(0), Buffer.from([5, 1, 0, 9, 1, 2, 3, 4, 0, 80])]));
    expect([...(await client.read(2))]).toEqual([5, 0]);
    expect((await client.read(10))[1]).toBe(0x08);
    await client.untilClosed();
  });

  it('0x01 for a name that is not a host name (no line breaks reach an upstream)', async () => {
    upstream.mode = 'ok';
    const before = upstream.seen.length;
    const { code, client } = await socks5Connect(chained.ports[0]!, { host: 'evil\r\nX-Injected: 1', port: 80 });
    expect(code).toBe(0x01);
    await client.untilClosed();
    expect(upstream.seen.length).toBe(before);
  });
});

describe('SOCKS5 login (RFC 1929) when Authentication.Required', () => {
  it('offers only username/password: a client without a login gets 0xFF and a close', async () => {
    const { stage, code, client } = await socks5Connect(locked.ports[0]!, originTarget());
    expect([stage, code]).toEqual(['method', 0xff]);
    await client.untilClosed();
  });

  it('answers a wrong login with status 0x01, then closes, and logs it', async () => {
    const { stage, code, client } = await socks5Connect(locked.ports[0]!, originTarget(), { username: 'alice', password: 'Wr0ngPa55' });
    expect([stage, code]).toEqual(['login', 0x01]);
    expect((await client.untilClosed()).length).toBe(0);
    expect(locked.logs.some((line) => line.includes('SOCKS5 login refused'))).toBe(true);
    expect(locked.logs.join('\n')).not.toContain('Wr0ngPa55');
  });

  it('lets the right login through', async () => {
    const { code, client } = await socks5Connect(locked.ports[0]!, originTarget(), { username: 'alice', password: 's3cret' });
    expect(code).toBe(0x00);
    expect((await getThroughTunnel(client.socket, `127.0.0.1:${origin.port}`)).body).toBe('hello');
    client.destroy();
  });

  it('takes greeting, login, request and the first request bytes in one write', async () => {
    const client = await RawClient.connect(locked.ports[0]!);
    const get = `GET / HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\nConnection: close\r\n\r\n`;
    client.send(Buffer.concat([greeting(2), login('alice', 's3cret'), request5(originTarget()), Buffer.from(get)]));
    const answer = await client.untilClosed();
    expect([...answer.subarray(0, 4)]).toEqual([5, 2, 1, 0]);
    expect(answer[5]).toBe(0);
    expect(answer.subarray(14).toString()).toMatch(/^HTTP\/1\.1 200[\s\S]*hello$/);
  });
});

describe('SOCKS4 and 4a replies', () => {
  it('0x5A: granted, for an address and for a 4a name', async () => {
    for (const host of ['127.0.0.1', 'localhost']) {
      const { code, client } = await socks4Connect(direct.ports[1]!, { host, port: origin.port }, 'anyone');
      expect(code).toBe(0x5a);
      expect((await getThroughTunnel(client.socket, `${host}:${origin.port}`)).body).toBe('hello');
      client.destroy();
    }
  });

  it('0x5B: refused when the target refuses, for BIND, and for any SOCKS4 client when a login is required', async () => {
    const refused = await socks4Connect(direct.ports[1]!, { host: '127.0.0.1', port: await freePort() });
    expect(refused.code).toBe(0x5b);
    expect(lastSocksLog(direct)).toMatchObject({ code: 'UPSTREAM_REFUSED', socks: 4, reply: 0x5b });

    const bind = await RawClient.connect(direct.ports[1]!);
    bind.send(request4(originTarget(), '', 2));
    expect((await bind.read(8))[1]).toBe(0x5b);
    await bind.untilClosed();

    const noPassword = await socks4Connect(locked.ports[0]!, originTarget(), 'alice');
    expect(noPassword.code).toBe(0x5b);
    await noPassword.client.untilClosed();
    expect(locked.logs.some((line) => line.includes('SOCKS4 cannot carry a password'))).toBe(true);
  });
});

describe('the session API through SOCKS', () => {
  it('answers GET /session/ inside a SOCKS5 CONNECT to portmapper:80, with the port session', async () => {
    const [port] = direct.ports as [number];
    const { code, client } = await socks5Connect(port, { host: 'portmapper', port: 80 });
    expect(code).toBe(0);
    const ask = (target: string) => client.send(`GET ${target} HTTP/1.1\r\nHost: portmapper\r\n\r\n`).readAnswer();
    const first = await ask('/session/');
    expect(first.status).toBe(200);
    const { session_id } = JSON.parse(first.body) as { session_id: string };
    const seen = await apiJson<{ session_id: string }>(port, '/session/');
    expect(seen.session_id).toBe(session_id);
    // The same connection is kept alive: an absolute-form request and a rotation answer too,
    // and the rotation leaves the connection that asked for it open.
    const renewed = await ask('http://portmapper/session/new');
    expect(JSON.parse(renewed.body).session_id).not.toBe(session_id);
    expect((await ask('/nope')).status).toBe(404);
    expect(JSON.parse((await ask('/session')).body).session_id).toBe(JSON.parse(renewed.body).session_id);
    client.destroy();
  });

  it('answers through SOCKS4a too, and refuses the API host on another port with 0x02', async () => {
    const { code, client } = await socks4Connect(direct.ports[1]!, { host: 'portmapper', port: 80 });
    expect(code).toBe(0x5a);
    expect((await getThroughTunnel(client.socket, 'portmapper', '/session')).status).toBe(200);
    client.destroy();

    const tls = await socks5Connect(direct.ports[1]!, { host: 'portmapper', port: 443 });
    expect(tls.code).toBe(0x02);
    await tls.client.untilClosed();
  });

  it('counts the SOCKS5 login as the proxy login when Authentication.Required', async () => {
    const { code, client } = await socks5Connect(locked.ports[0]!, { host: 'portmapper', port: 80 }, { username: 'alice', password: 's3cret' });
    expect(code).toBe(0);
    expect((await getThroughTunnel(client.socket, 'portmapper', '/session/')).status).toBe(200);
    client.destroy();
  });
});
