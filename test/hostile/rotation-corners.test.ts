import { once } from 'node:events';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiJson, closed, getThroughTunnel, openTunnel, request } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { freePortRange } from '../helpers/ports.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { greeting, RawClient, request5 } from '../helpers/socks-client.js';
import { startSocksUpstream, type SocksUpstream } from '../helpers/socks-upstream.js';
import { startStickyport, upstreamUrl, type RunningProxy } from '../helpers/stickyport.js';
import { startTcpGate, type TcpGate } from '../helpers/tcp-gate.js';

// Rotation where features meet: a host rule with an upstream of its own (a rule route rendered
// with the session), a Bypass rule, a SOCKS upstream, SOCKS clients, WebSockets. The judges are
// the recording upstreams: once a rotation has answered, nothing sent afterwards leaves with the
// old id on any route, tunnels and WebSockets on the old id are closed, a bypassed one is not,
// and a bypassed request never carries an id at all.

const SESSION = /-session-([^-:]+)/;
const idOf = (username: string): string | undefined => SESSION.exec(username)?.[1];


/** A WebSocket-ish target: answers any upgrade with 101, then echoes. */
async function startEchoUpgrade() {
  const sockets = new Set<net.Socket>();
  const server = http.createServer((_req, res) => res.writeHead(404, { 'content-length': 0 }).end());
  server.on('upgrade', (_req, socket: net.Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
    socket.pipe(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Reads one HTTP answer head off a raw client (bounded), without its body. */
async function readHead(client: RawClient): Promise<string> {
  let head = '';
  for (let i = 0; i < 4_096 && !head.endsWith('\r\n\r\n'); i++) {
    const byte = await client.read(1, 5_000);
    if (byte.length === 0) break;
    head += byte.toString('latin1');
  }
  return head;
}

let origin: Origin;
let main: RecordingUpstream;
let side: RecordingUpstream;
let socks: SocksUpstream;
let socksGate: TcpGate;
let echo: Awaited<ReturnType<typeof startEchoUpgrade>>;
let proxy: RunningProxy;
let httpPort: number;
let socksPort: number;

beforeAll(async () => {
  origin = await startOrigin();
  main = await startRecordingUpstream();
  side = await startRecordingUpstream();
  socks = await startSocksUpstream('pw');
  socksGate = await startTcpGate(socks.port);
  echo = await startEchoUpgrade();
  httpPort = await freePortRange(2);
  socksPort = httpPort + 1;
  const sideUpstream = { Url: `http://side-session-{session}:secret@127.0.0.1:${side.port}` };
  proxy = await startStickyport(
    {
      Listen: { AllowPrivateTargets: true },
      Upstream: { Url: upstreamUrl(main.port) },
      Logging: { Level: 'warn' },
      Mappings: [
        {
          Name: 'http',
          Listen: { Port: httpPort },
          HostRules: [
            { Pattern: 'side.test', OverrideHost: '127.0.0.1', OverridePort: origin.port, Upstream: sideUpstream },
            { Pattern: 'ws-side.test', OverrideHost: '127.0.0.1', OverridePort: echo.port, Upstream: sideUpstream },
            { Pattern: 'bypass.test', Action: 'Bypass', OverrideHost: '127.0.0.1', OverridePort: origin.port },
            { Pattern: 'ws-bypass.test', Action: 'Bypass', OverrideHost: '127.0.0.1', OverridePort: echo.port },
          ],
        },
        { Name: 'socks', Listen: { Port: socksPort }, Upstream: { Url: `socks5h://sx-session-{session}:pw@127.0.0.1:${socksGate.port}` } },
      ],
    },
    { startPort: httpPort, portCount: 2 },
  );
});

afterAll(async () => {
  await proxy?.stop();
  await echo?.close();
  await socksGate?.close();
  await socks?.close();
  await side?.close();
  await main?.close();
  await origin?.close();
});

describe('rotation across route kinds', () => {
  it('requests pipelined behind /session/new on one connection leave with the new id on the main route, the rule route and the SOCKS upstream; a bypassed one carries none', async () => {
    for (let round = 0; round < 10; round++) {
      // Pooled upstream connections of the current session on every route.
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      expect((await request(httpPort, `${origin.url}/warm-main-${round}`, { agent })).status).toBe(200);
      expect((await request(httpPort, `http://side.test/warm-side-${round}`, { agent })).status).toBe(200);
      expect((await request(socksPort, `${origin.url}/warm-socks-${round}`, { agent })).status).toBe(200);
      agent.destroy();
      const socksLogins = socks.usernames.length;
      const old = idOf(main.seen.at(-1)!.username)!;
      expect(idOf(side.seen.at(-1)!.username)).toBe(old);

      const client = await RawClient.connect(httpPort);
      client.send(
        'GET http://portmapper/session/new HTTP/1.1\r\nHost: portmapper\r\n\r\n' +
          `GET ${origin.url}/after-main-${round} HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\n\r\n` +
          `GET http://side.test/after-side-${round} HTTP/1.1\r\nHost: side.test\r\n\r\n` +
          `GET http://bypass.test/after-bypass-${round} HTTP/1.1\r\nHost: bypass.test\r\n\r\n`,
      );
      const api = await client.readAnswer();
      expect(api.status).toBe(200);
      const renewed = (JSON.parse(api.body) as { session_id: string }).session_id;
      for (let i = 0; i < 3; i++) expect((await client.readAnswer()).status).toBe(200);
      client.destroy();

      const socksClient = await RawClient.connect(socksPort);
      socksClient.send(
        'GET http://portmapper/session/new HTTP/1.1\r\nHost: portmapper\r\n\r\n' +
          `GET ${origin.url}/after-socks-${round} HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\n\r\n`,
      );
      const socksApi = await socksClient.readAnswer();
      expect(socksApi.status).toBe(200);
      const socksRenewed = (JSON.parse(socksApi.body) as { session_id: string }).session_id;
      expect((await socksClient.readAnswer()).status).toBe(200);
      socksClient.destroy();

      const at = (upstream: RecordingUpstream, name: string) => upstream.seen.filter((entry) => entry.target.endsWith(`/${name}`));
      expect(at(main, `after-main-${round}`).map((entry) => entry.session)).toEqual([renewed]);
      expect(at(side, `after-side-${round}`).map((entry) => entry.session)).toEqual([renewed]);
      // Bypassed: straight to the origin, without any login.
      expect(at(main, `after-bypass-${round}`)).toEqual([]);
      expect(at(side, `after-bypass-${round}`)).toEqual([]);
      const bypassed = origin.requests.filter((entry) => entry.url === `/after-bypass-${round}`);
      expect(bypassed.length).toBe(1);
      expect(bypassed[0]!.headers['proxy-authorization']).toBeUndefined();
      // SOCKS upstream: every login since the rotation is the new session's.
      const since = socks.usernames.slice(socksLogins).map(idOf);
      expect(since.length).toBeGreaterThan(0);
      for (const id of since) expect(id).toBe(socksRenewed);
    }
  });

  it('requests pipelined behind /session/reset leave with one fresh id on the main and rule routes, through a SOCKS client too', async () => {
    for (let round = 0; round < 5; round++) {
      expect((await request(httpPort, `http://side.test/warm-reset-${round}`)).status).toBe(200);
      const old = idOf(side.seen.at(-1)!.username)!;
      const client = await RawClient.connect(httpPort);
      client.send(
        'GET http://portmapper/session/reset HTTP/1.1\r\nHost: portmapper\r\n\r\n' +
          `GET http://side.test/reset-side-${round} HTTP/1.1\r\nHost: side.test\r\n\r\n` +
          `GET ${origin.url}/reset-main-${round} HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\n\r\n`,
      );
      for (let i = 0; i < 3; i++) expect((await client.readAnswer()).status).toBe(200);
      client.destroy();
      const sideId = side.seen.find((entry) => entry.target.endsWith(`/reset-side-${round}`))!.session;
      const mainId = main.seen.find((entry) => entry.target.endsWith(`/reset-main-${round}`))!.session;
      expect(sideId).not.toBe(old);
      expect(mainId).toBe(sideId);
      // A SOCKS client right after another reset: its tunnel goes out on yet another id.
      await apiJson(httpPort, '/session/reset');
      const before = side.seen.length;
      const socksClient = await RawClient.connect(httpPort);
      socksClient.send(greeting(0));
      expect([...(await socksClient.read(2))]).toEqual([5, 0]);
      socksClient.send(request5({ host: 'side.test', port: 80 }));
      expect((await socksClient.read(10))[1]).toBe(0);
      socksClient.destroy();
      const ids = side.seen.slice(before).map((entry) => entry.session);
      expect(ids.length).toBe(1);
      expect([old, sideId]).not.toContain(ids[0]);
    }
  });

  it('a rotation closes tunnels and WebSockets on the main and rule routes, and leaves bypassed ones open', async () => {
    const authority = (host: string) => `${host}:80`;
    const mainTunnel = await openTunnel(httpPort, `127.0.0.1:${origin.port}`);
    const sideTunnel = await openTunnel(httpPort, authority('side.test'));
    const bypassTunnel = await openTunnel(httpPort, authority('bypass.test'));
    for (const tunnel of [mainTunnel, sideTunnel, bypassTunnel]) expect(tunnel.status).toBe(200);
    const old = idOf(side.seen.at(-1)!.username)!;
    expect(side.seen.at(-1)!.kind).toBe('connect');

    const webSocket = async (host: string): Promise<RawClient> => {
      const client = await RawClient.connect(httpPort);
      client.send(`GET http://${host}/ws HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`);
      expect((await readHead(client)).slice(0, 12)).toBe('HTTP/1.1 101');
      client.send('hi');
      expect((await client.read(2)).toString()).toBe('hi');
      return client;
    };
    const sideWs = await webSocket('ws-side.test');
    const bypassWs = await webSocket('ws-bypass.test');
    expect(side.seen.at(-1)!.kind).toBe('upgrade');
    expect(side.seen.at(-1)!.session).toBe(old);

    expect([mainTunnel, sideTunnel, bypassTunnel].map((tunnel) => tunnel.socket.destroyed)).toEqual([false, false, false]);
    await apiJson(httpPort, '/session/new');
    await Promise.all([closed(mainTunnel.socket), closed(sideTunnel.socket), sideWs.untilClosed(5_000)]);
    // Bypassed: no identity, still open and working.
    expect((await getThroughTunnel(bypassTunnel.socket, 'bypass.test', '/still-open')).status).toBe(200);
    bypassWs.send('yo');
    expect((await bypassWs.read(2)).toString()).toBe('yo');
    bypassTunnel.socket.destroy();
    bypassWs.destroy();
  });

  /**
   * Holds the SOCKS upstream's gate and sends a SOCKS5 CONNECT to the origin through the SOCKS
   * port; resolves with the client once the upstream connection is held at the gate (on failure
   * the client is closed and the gate released).
   */
  async function heldSocksConnect(): Promise<RawClient> {
    socksGate.hold();
    const client = await RawClient.connect(socksPort);
    try {
      client.send(greeting(0));
      expect([...(await client.read(2))]).toEqual([5, 0]);
      client.send(request5({ host: '127.0.0.1', port: origin.port }));
      await socksGate.arrived();
      return client;
    } catch (error) {
      client.destroy();
      socksGate.release();
      throw error;
    }
  }

  it('SOCKS5 client, SOCKS upstream: a rotation while the upstream handshake is held sends the tunnel out again on the new session and closes the old upstream connection', async () => {
    expect((await request(socksPort, `${origin.url}/warm-held`)).status).toBe(200);
    const baseline = socksGate.open;
    const client = await heldSocksConnect();
    try {
      const before = socks.usernames.length;
      const { session_id: renewed } = await apiJson<{ session_id: string }>(socksPort, '/session/new');
      socksGate.release();
      const reply = await client.read(10);
      expect(reply[1]).toBe(0);
      client.send(`GET /through-held HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\nConnection: close\r\n\r\n`);
      expect((await readHead(client)).slice(0, 12)).toBe('HTTP/1.1 200');
      // The held handshake went out with the old id (sent before the answer); the tunnel the
      // client got is the new session's, and the old one's connection was closed.
      const logins = socks.usernames.slice(before).map(idOf);
      expect(logins.at(-1)).toBe(renewed);
      const tunnelConnects = socks.connects.filter((entry) => entry.port === origin.port).length;
      expect(tunnelConnects).toBeGreaterThan(0);
      // Only this tunnel (two sockets at the gate) is open beyond the baseline, once the old one closed.
      for (let i = 0; i < 200 && socksGate.open > baseline + 2; i++) await new Promise((resolve) => setTimeout(resolve, 10));
      expect(socksGate.open).toBeLessThanOrEqual(baseline + 2);
    } finally {
      client.destroy();
      socksGate.release();
    }
  });

  // Strictly, nothing reaches the upstream with the old id once the rotation answered. A tunnel
  // whose SOCKS handshake was held (the greeting on its way, the login a round trip later) used
  // to send its login with the old id after the answer, then was dropped and sent out again.
  // Each handshake write that carries the login now first asks whether the session is still the
  // port's (SocksRoute, and HttpProxyRoute writing its CONNECT once the connection is up).
  it('strict: a tunnel held at TCP level during a rotation never shows the old id at the upstream after the answer', async () => {
    expect((await request(socksPort, `${origin.url}/warm-strict`)).status).toBe(200);
    const old = idOf(socks.usernames.at(-1)!)!;
    const client = await heldSocksConnect();
    try {
      await apiJson(socksPort, '/session/new');
      const before = socks.usernames.length;
      socksGate.release();
      expect((await client.read(10))[1]).toBe(0);
      expect(socks.usernames.slice(before).map(idOf)).not.toContain(old);
    } finally {
      client.destroy();
      socksGate.release();
    }
  });

  // The same for a WebSocket upgrade through the SOCKS upstream: its connection is opened by the
  // session's undici Agent, whose handshake asked nothing, so the old id's login and a SOCKS
  // CONNECT to the target (a connection from the old exit) left after the answer; the upgrade
  // itself then went out on the new session.
  it('strict: a WebSocket upgrade whose SOCKS handshake is held during a rotation never shows the old id at the upstream after the answer, and goes out once on the new session', async () => {
    expect((await request(socksPort, `${origin.url}/warm-ws`)).status).toBe(200);
    const old = idOf(socks.usernames.at(-1)!)!;
    socksGate.hold();
    const client = await RawClient.connect(socksPort);
    try {
      const host = `127.0.0.1:${echo.port}`;
      client.send(`GET http://${host}/ws HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`);
      await socksGate.arrived();
      const { session_id: renewed } = await apiJson<{ session_id: string }>(socksPort, '/session/new');
      const before = socks.usernames.length;
      const connectsBefore = socks.connects.filter((entry) => entry.port === echo.port).length;
      socksGate.release();
      expect((await readHead(client)).slice(0, 12)).toBe('HTTP/1.1 101');
      client.send('hi');
      expect((await client.read(2)).toString()).toBe('hi');
      expect(socks.usernames.slice(before).map(idOf)).not.toContain(old);
      expect(socks.usernames.slice(before).map(idOf)).toContain(renewed);
      // One CONNECT to the target after the answer: the new session's.
      expect(socks.connects.filter((entry) => entry.port === echo.port).length - connectsBefore).toBe(1);
    } finally {
      client.destroy();
      socksGate.release();
    }
  });

  it('SOCKS5 client logging in byte by byte while the port rotates: its CONNECT leaves with the id current after the rotation', async () => {
    const client = await RawClient.connect(httpPort);
    try {
      const hello = greeting(0);
      for (const byte of hello) client.send(Buffer.from([byte]));
      expect([...(await client.read(2))]).toEqual([5, 0]);
      const { session_id: renewed } = await apiJson<{ session_id: string }>(httpPort, '/session/new');
      const ask = request5({ host: '127.0.0.1', port: origin.port });
      const before = main.seen.length;
      client.send(ask.subarray(0, 4));
      const second = await apiJson<{ session_id: string }>(httpPort, '/session/new');
      expect(second.session_id).not.toBe(renewed);
      client.send(ask.subarray(4));
      expect((await client.read(10))[1]).toBe(0);
      expect(main.seen.slice(before).map((entry) => entry.session)).toEqual([second.session_id]);
    } finally {
      client.destroy();
    }
  });
});
