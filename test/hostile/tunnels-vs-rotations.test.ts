import net from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { apiJson, openTunnel } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { socks5Connect } from '../helpers/socks-client.js';
import { startSocksUpstream, type SocksUpstream } from '../helpers/socks-upstream.js';
import { freePortRange } from '../helpers/ports.js';
import { startStickyport, upstreamUrl, type RunningProxy } from '../helpers/stickyport.js';
import { startTcpGate, type TcpGate } from '../helpers/tcp-gate.js';

// Tunnels (HTTP CONNECT and SOCKS5, to an HTTP upstream and to a SOCKS upstream) opening while
// the port rotates again and again, their upstream side slowed by a relay that holds each new
// connection for a few milliseconds. Each client gets exactly one reply; whatever opened is
// bound to the session it went out on: one more rotation closes every tunnel still open.


let origin: Origin;
let upstream: RecordingUpstream;
let socks: SocksUpstream;
let httpRelay: TcpGate;
let socksRelay: TcpGate;
let proxy: RunningProxy;
let ports: number[];

beforeAll(async () => {
  origin = await startOrigin();
  upstream = await startRecordingUpstream();
  socks = await startSocksUpstream('pw');
  httpRelay = await startTcpGate(upstream.port, { delayMs: (n) => n % 7 });
  socksRelay = await startTcpGate(socks.port, { delayMs: (n) => n % 7 });
  const start = await freePortRange(2);
  ports = [start, start + 1];
  proxy = await startStickyport(
    {
      Upstream: { Url: upstreamUrl(httpRelay.port) },
      Logging: { Level: 'warn' },
      Mappings: [
        { Name: 'http', Listen: { Port: start } },
        { Name: 'socks', Listen: { Port: start + 1 }, Upstream: { Url: `socks5h://sx-session-{session}:pw@127.0.0.1:${socksRelay.port}` } },
      ],
    },
    { startPort: start, portCount: 2 },
  );
});

afterAll(async () => {
  await proxy?.stop();
  await httpRelay?.close();
  await socksRelay?.close();
  await socks?.close();
  await upstream?.close();
  await origin?.close();
});

for (const route of ['HTTP upstream', 'SOCKS upstream'] as const) {
  it(`40 tunnels against 10 rotations (${route}): one reply each, none survives the next rotation`, async () => {
    const port = route === 'HTTP upstream' ? ports[0]! : ports[1]!;
    const authority = `127.0.0.1:${origin.port}`;
    const open: net.Socket[] = [];
    const replies: number[] = [];
    const clients = Array.from({ length: 40 }, async (_, i) => {
      if (i % 2 === 0) {
        const tunnel = await openTunnel(port, authority);
        replies.push(tunnel.status);
        if (tunnel.status === 200) open.push(tunnel.socket);
        else tunnel.socket.destroy();
      } else {
        const { stage, code, client } = await socks5Connect(port, { host: '127.0.0.1', port: origin.port });
        replies.push(stage === 'reply' && code === 0 ? 200 : 500 + code);
        if (stage === 'reply' && code === 0) open.push(client.socket);
        else client.destroy();
      }
    });
    for (let i = 0; i < 10; i++) await apiJson(port, '/session/new');
    await Promise.all(clients);
    expect(replies.length).toBe(40);
    expect(replies.filter((status) => status !== 200), 'every tunnel opened').toEqual([]);
    const stillOpen = open.filter((socket) => !socket.destroyed);
    const closing = stillOpen.map((socket) => new Promise<void>((resolve) => (socket.destroyed ? resolve() : socket.once('close', () => resolve()))));
    await apiJson(port, '/session/new');
    const timeout = new Promise<string>((resolve) => setTimeout(() => resolve('timeout'), 3_000));
    const outcome = await Promise.race([Promise.all(closing).then(() => 'closed'), timeout]);
    expect(outcome, `${open.filter((socket) => !socket.destroyed).length} tunnels survived a rotation`).toBe('closed');
    for (const socket of open) socket.destroy();
  });
}
