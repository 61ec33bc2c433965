import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiJson, closed, getThroughTunnel } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { socks4Connect, socks5Connect } from '../helpers/socks-client.js';
import { startStickyport, type RunningProxy } from '../helpers/stickyport.js';

// SOCKS connections carry their port's session for their whole life, as HTTP tunnels do: a
// rotation closes them, and one that lands while a tunnel opens sends it out on the new session.
let origin: Origin;
let slow: SlowUpstream;
let proxy: RunningProxy;

interface SlowUpstream {
  readonly port: number;
  /** Session ids of the CONNECTs received, in order. */
  readonly sessions: string[];
  delayMs: number;
  close(): Promise<void>;
}

/** An HTTP proxy that answers each CONNECT after `delayMs`, recording the session in its login. */
async function startSlowUpstream(): Promise<SlowUpstream> {
  const sockets = new Set<net.Socket>();
  const upstream = {
    port: 0,
    sessions: [] as string[],
    delayMs: 0,
    close: () => new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    }),
  };
  const server = net.createServer((client) => {
    sockets.add(client);
    client.once('close', () => sockets.delete(client));
    client.on('error', () => client.destroy());
    let head = '';
    const onData = (chunk: Buffer): void => {
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      client.removeListener('data', onData);
      client.pause();
      const [, authority] = /^CONNECT (\S+)/.exec(head) ?? [];
      const login = /proxy-authorization: basic (\S+)/i.exec(head)?.[1];
      upstream.sessions.push(/-session-([^:]+):/.exec(Buffer.from(login ?? '', 'base64').toString())?.[1] ?? '');
      const colon = authority!.lastIndexOf(':');
      setTimeout(() => {
        const target = net.connect(Number(authority!.slice(colon + 1)), authority!.slice(0, colon), () => {
          client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
          client.pipe(target).pipe(client);
          client.resume();
        });
        target.on('error', () => client.destroy());
        client.once('close', () => target.destroy());
      }, upstream.delayMs).unref();
    };
    client.on('data', onData);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  upstream.port = (server.address() as AddressInfo).port;
  return upstream;
}

beforeAll(async () => {
  origin = await startOrigin();
  slow = await startSlowUpstream();
  proxy = await startStickyport({ Upstream: { Url: `http://customer-acme-session-{session}:secret@127.0.0.1:${slow.port}` } }, { portCount: 2 });
});

afterAll(async () => {
  await proxy?.stop();
  await slow?.close();
  await origin?.close();
});

const target = () => ({ host: '127.0.0.1', port: origin.port });

describe('SOCKS tunnels and rotations', () => {
  it('closes every SOCKS5 and SOCKS4 tunnel of the rotated port, and none of another port', async () => {
    slow.delayMs = 0;
    const [port, other] = proxy.ports as [number, number];
    const tunnels = await Promise.all([socks5Connect(port, target()), socks4Connect(port, target()), socks5Connect(other, target())]);
    for (const { code } of tunnels) expect([0, 0x5a]).toContain(code);
    await apiJson(port, '/session/new');
    await Promise.all([closed(tunnels[0].client.socket), closed(tunnels[1].client.socket)]);
    const survivor = tunnels[2].client.socket;
    expect(survivor.destroyed).toBe(false);
    expect((await getThroughTunnel(survivor, `127.0.0.1:${origin.port}`)).body).toBe('hello');
  });

  it('sends a tunnel out again on the new session when a rotation lands while it opens', async () => {
    slow.delayMs = 300;
    const port = proxy.ports[0]!;
    const { session_id: old } = await apiJson<{ session_id: string }>(port, '/session/');
    const before = slow.sessions.length;
    const opening = socks5Connect(port, target());
    await new Promise((resolve) => setTimeout(resolve, 100));
    const { session_id: renewed } = await apiJson<{ session_id: string }>(port, '/session/new');
    const { code, client } = await opening;
    expect(code).toBe(0);
    expect(slow.sessions.slice(before)).toEqual([old, renewed]);
    expect((await getThroughTunnel(client.socket, `127.0.0.1:${origin.port}`)).body).toBe('hello');
  });
});
