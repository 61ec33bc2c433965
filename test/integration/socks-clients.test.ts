import { once } from 'node:events';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { apiJson, closed, request } from '../helpers/client.js';
import { DEBIAN_PYTHON, describeWith, run } from '../helpers/external-clients.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { selfSigned, type SelfSigned } from '../helpers/self-signed.js';
import { socks5Connect } from '../helpers/socks-client.js';
import { startSocksUpstream, type SocksUpstream } from '../helpers/socks-upstream.js';
import { startStickyport, upstreamUrl, type RunningProxy } from '../helpers/stickyport.js';

// Real SOCKS clients on stickyport's ports: curl (--socks5-hostname, --socks5, --socks4a,
// --socks4) and python requests (socks5h://). The judge is the upstream: the session id in its
// login must be the port's, as for an HTTP client, and names must reach it unresolved.
let origin: Origin;
let tls: SelfSigned;
let httpsOrigin: https.Server;
let ipv6Origin: http.Server;
let upstream: RecordingUpstream;
let socks: SocksUpstream;
let proxy: RunningProxy;
const upstreams: Record<string, RunningProxy> = {};

beforeAll(async () => {
  origin = await startOrigin();
  tls = selfSigned();
  httpsOrigin = https.createServer({ key: tls.key, cert: tls.cert }, (_req, res) => res.end('secure hello'));
  httpsOrigin.listen(0, '127.0.0.1');
  ipv6Origin = http.createServer((_req, res) => res.end('hello over IPv6'));
  ipv6Origin.listen(0, '::1');
  await Promise.all([once(httpsOrigin, 'listening'), once(ipv6Origin, 'listening')]);
  upstream = await startRecordingUpstream();
  socks = await startSocksUpstream('secret');
  proxy = await startStickyport({ Upstream: { Url: upstreamUrl(upstream.port) } }, { portCount: 3 });
  upstreams.direct = await startStickyport({}, { portCount: 1 });
  upstreams['socks5h://'] = await startStickyport(
    { Upstream: { Url: `socks5h://customer-acme-session-{session}:secret@127.0.0.1:${socks.port}` } },
    { portCount: 1 },
  );
  upstreams['socks4a://'] = await startStickyport(
    { Upstream: { Url: `socks4a://customer-acme-session-{session}@127.0.0.1:${socks.port}` } },
    { portCount: 1 },
  );
});

afterAll(async () => {
  await Promise.all([proxy, ...Object.values(upstreams)].map((running) => running?.stop()));
  await Promise.all([upstream?.close(), socks?.close(), origin?.close()]);
  for (const server of [httpsOrigin, ipv6Origin]) {
    server?.closeAllConnections();
    server?.close();
  }
});

beforeEach(() => {
  upstream.mode = 'ok';
});

const sessionOf = async (port: number): Promise<string> => (await apiJson<{ session_id: string }>(port, '/session/')).session_id;
const lastConnect = () => upstream.seen.filter((seen) => seen.kind === 'connect').at(-1)!;

function curl(...args: string[]) {
  return run('curl', ['-sS', '--max-time', '15', ...args]);
}

describeWith('curl', 'curl as a SOCKS client', () => {
  it('--socks5-hostname: the name reaches the upstream unresolved, with the port session', async () => {
    const port = proxy.ports[0]!;
    const answer = await curl('--socks5-hostname', `127.0.0.1:${port}`, `http://localhost:${origin.port}/`);
    expect(answer.stdout).toBe('hello');
    expect(lastConnect()).toMatchObject({ target: `localhost:${origin.port}`, session: await sessionOf(port) });
  });

  it('--socks5 (curl resolves) and --socks4 carry an address; --socks4a a name', async () => {
    const port = proxy.ports[0]!;
    const id = await sessionOf(port);
    for (const [flag, host] of [['--socks5', '127.0.0.1'], ['--socks4', '127.0.0.1'], ['--socks4a', 'localhost']] as const) {
      const answer = await curl(flag, `127.0.0.1:${port}`, `http://${host}:${origin.port}/`);
      expect(answer.stdout, `${flag}: ${answer.stderr}`).toBe('hello');
      expect(lastConnect()).toMatchObject({ target: `${host}:${origin.port}`, session: id });
    }
  });

  it('carries HTTPS end to end (the certificate is the origin\'s own)', async () => {
    const port = httpsOrigin.address() as AddressInfo;
    const answer = await curl('--cacert', tls.certFile, '--socks5-hostname', `127.0.0.1:${proxy.ports[1]}`, `https://localhost:${port.port}/`);
    expect(answer.stdout, answer.stderr).toBe('secure hello');
    expect(lastConnect()).toMatchObject({ target: `localhost:${port.port}`, session: await sessionOf(proxy.ports[1]!) });
  });

  it('reaches an IPv6 target (SOCKS5 address type 4)', async () => {
    const { port } = ipv6Origin.address() as AddressInfo;
    const answer = await curl('--socks5-hostname', `127.0.0.1:${proxy.ports[1]}`, `http://[::1]:${port}/`);
    expect(answer.stdout, answer.stderr).toBe('hello over IPv6');
    expect(lastConnect().target).toBe(`[::1]:${port}`);
    const direct = await curl('--socks5-hostname', `127.0.0.1:${upstreams.direct!.ports[0]}`, `http://[::1]:${port}/`);
    expect(direct.stdout, direct.stderr).toBe('hello over IPv6');
  });

  it('uses the same session as HTTP clients of the same port; other ports have their own', async () => {
    const [a, b] = proxy.ports as [number, number];
    await curl('--socks5-hostname', `127.0.0.1:${a}`, `http://localhost:${origin.port}/`);
    const viaSocks = lastConnect().session;
    await curl('-x', `http://127.0.0.1:${a}`, '-p', `http://localhost:${origin.port}/`);
    expect(lastConnect().session).toBe(viaSocks);
    await curl('--socks4a', `127.0.0.1:${b}`, `http://localhost:${origin.port}/`);
    expect(lastConnect().session).not.toBe(viaSocks);
  });

  it('answers the session API: --socks5-hostname to http://portmapper/session/', async () => {
    const port = proxy.ports[2]!;
    const before = upstream.seen.length;
    const answer = await curl('--socks5-hostname', `127.0.0.1:${port}`, 'http://portmapper/session/');
    expect(JSON.parse(answer.stdout).session_id).toBe(await sessionOf(port));
    const renewed = await curl('--socks5-hostname', `127.0.0.1:${port}`, 'http://portmapper/session/new');
    expect(JSON.parse(renewed.stdout).session_id).toBe(await sessionOf(port));
    expect(upstream.seen.length).toBe(before);
  });

  it('logs in with a SOCKS5 user name and password when Authentication.Required; a wrong one is refused', async () => {
    const locked = await startStickyport(
      { Authentication: { Required: true, Username: 'alice', Password: 'p@ss:word' }, Upstream: { Url: upstreamUrl(upstream.port) } },
      { portCount: 1 },
    );
    try {
      const port = locked.ports[0]!;
      const ok = await curl('-x', `socks5h://alice:p%40ss%3Aword@127.0.0.1:${port}`, `http://localhost:${origin.port}/`);
      expect(ok.stdout, ok.stderr).toBe('hello');
      const wrong = await curl('-x', `socks5h://alice:nope@127.0.0.1:${port}`, `http://localhost:${origin.port}/`);
      expect(wrong.code).not.toBe(0);
      expect(wrong.stderr).toMatch(/rejected|authentication/i);
      const none = await curl('--socks5-hostname', `127.0.0.1:${port}`, `http://localhost:${origin.port}/`);
      expect(none.code).not.toBe(0);
      const socks4 = await curl('--socks4a', `127.0.0.1:${port}`, `http://localhost:${origin.port}/`);
      expect(socks4.code).not.toBe(0);
    } finally {
      await locked.stop();
    }
  });

  it.each(['direct', 'socks5h://', 'socks4a://'])('leaves through a %s route with the port session, names unresolved', async (name) => {
    const running = upstreams[name]!;
    const port = running.ports[0]!;
    const answer = await curl('--socks5-hostname', `127.0.0.1:${port}`, `http://localhost:${origin.port}/`);
    expect(answer.stdout, answer.stderr).toBe('hello');
    if (name === 'direct') return;
    expect(socks.usernames.at(-1)).toBe(`customer-acme-session-${await sessionOf(port)}`);
    expect(socks.connects.at(-1)).toMatchObject({ host: 'localhost', port: origin.port, addressType: name === 'socks5h://' ? 'domain' : 'socks4a' });
  });

  it('closes a SOCKS tunnel when its port session rotates, like an HTTP tunnel', async () => {
    const port = proxy.ports[2]!;
    const { code, client } = await socks5Connect(port, { host: 'localhost', port: origin.port });
    expect(code).toBe(0);
    const old = lastConnect().session;
    await apiJson(port, '/session/new');
    await closed(client.socket);
    await curl('--socks5-hostname', `127.0.0.1:${port}`, `http://localhost:${origin.port}/`);
    expect(lastConnect().session).not.toBe(old);
    expect((await request(port, 'http://portmapper/session/')).status).toBe(200);
  });
});

const PYTHON_GET = `
import sys, requests
proxy = sys.argv[1]
answer = requests.get(sys.argv[2], proxies={"http": proxy, "https": proxy}, timeout=15)
sys.stdout.write(answer.text)
`;

describeWith('pythonRequestsSocks', 'python requests with socks5h:// (python3-socks)', () => {
  it('fetches through the port session, the name passed on unresolved', async () => {
    const port = proxy.ports[1]!;
    const answer = await run(DEBIAN_PYTHON, ['-c', PYTHON_GET, `socks5h://127.0.0.1:${port}`, `http://localhost:${origin.port}/`]);
    expect(answer.stdout, answer.stderr).toBe('hello');
    expect(lastConnect()).toMatchObject({ target: `localhost:${origin.port}`, session: await sessionOf(port) });
  });

  it('reads the session API through socks5h://', async () => {
    const port = proxy.ports[1]!;
    const answer = await run(DEBIAN_PYTHON, ['-c', PYTHON_GET, `socks5h://127.0.0.1:${port}`, 'http://portmapper/session/']);
    expect(JSON.parse(answer.stdout).session_id, answer.stderr).toBe(await sessionOf(port));
  });

  it('logs in with socks5h://user:password@', async () => {
    const locked = await startStickyport({ Authentication: { Required: true, Username: 'bob', Password: 'hunter2' } }, { portCount: 1 });
    try {
      const url = `http://127.0.0.1:${origin.port}/`;
      const ok = await run(DEBIAN_PYTHON, ['-c', PYTHON_GET, `socks5h://bob:hunter2@127.0.0.1:${locked.ports[0]}`, url]);
      expect(ok.stdout, ok.stderr).toBe('hello');
      const wrong = await run(DEBIAN_PYTHON, ['-c', PYTHON_GET, `socks5h://bob:wrong@127.0.0.1:${locked.ports[0]}`, url]);
      expect(wrong.code).not.toBe(0);
    } finally {
      await locked.stop();
    }
  });
});
