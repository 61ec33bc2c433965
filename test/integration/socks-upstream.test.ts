import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiJson, getThroughTunnel, openTunnel, request } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startSocksUpstream, type SocksUpstream } from '../helpers/socks-upstream.js';
import { startStickyport, type RunningProxy } from '../helpers/stickyport.js';

let origin: Origin;
let socks: SocksUpstream;
let proxy: RunningProxy;

beforeAll(async () => {
  origin = await startOrigin();
  socks = await startSocksUpstream('s0cks:p@ss');
  proxy = await startStickyport({
    Upstream: { Url: `socks5://customer-acme-session-{session}:s0cks:p@ss@127.0.0.1:${socks.port}` },
  });
});

afterAll(async () => {
  await proxy.stop();
  await socks.close();
  await origin.close();
});

describe('SOCKS5 upstream', () => {
  it('carries the port session in the SOCKS login for plain HTTP and CONNECT', async () => {
    const [port] = proxy.ports as [number];
    expect((await request(port, `${origin.url}/`)).body).toBe('hello');
    const tunnel = await openTunnel(port, `127.0.0.1:${origin.port}`);
    expect(tunnel.status).toBe(200);
    expect((await getThroughTunnel(tunnel.socket, `127.0.0.1:${origin.port}`)).body).toBe('hello');
    tunnel.socket.destroy();

    const { session_id } = await apiJson<{ session_id: string }>(port, '/session/');
    expect(socks.usernames.length).toBeGreaterThanOrEqual(2);
    expect(new Set(socks.usernames)).toEqual(new Set([`customer-acme-session-${session_id}`]));
  });

  it('answers 502 when the SOCKS login is refused', async () => {
    const refusing = await startStickyport(
      { Upstream: { Url: `socks5://customer-{session}:wrong@127.0.0.1:${socks.port}` } },
      { portCount: 1 },
    );
    try {
      const plain = await request(refusing.ports[0]!, `${origin.url}/`);
      expect(plain.status).toBe(502);
      const tunnel = await openTunnel(refusing.ports[0]!, `127.0.0.1:${origin.port}`);
      expect(tunnel.status).toBe(502);
      tunnel.socket.destroy();
    } finally {
      await refusing.stop();
    }
  });
});

describe('SOCKS4 upstream', () => {
  it('carries the port session in the SOCKS4 user id for plain HTTP and CONNECT, ports apart', async () => {
    const socks4 = await startStickyport(
      { Upstream: { Url: `socks4://customer-acme-session-{session}@127.0.0.1:${socks.port}` } },
      { portCount: 2 },
    );
    try {
      const [portA, portB] = socks4.ports as [number, number];
      const before = socks.usernames.length;
      expect((await request(portA, `${origin.url}/`)).body).toBe('hello');
      const tunnel = await openTunnel(portA, `127.0.0.1:${origin.port}`);
      expect(tunnel.status).toBe(200);
      expect((await getThroughTunnel(tunnel.socket, `127.0.0.1:${origin.port}`)).body).toBe('hello');
      tunnel.socket.destroy();
      expect((await request(portB, `${origin.url}/`)).body).toBe('hello');

      const a = await apiJson<{ session_id: string }>(portA, '/session/');
      const b = await apiJson<{ session_id: string }>(portB, '/session/');
      expect(a.session_id).not.toBe(b.session_id);
      expect(socks.usernames.slice(before)).toEqual([
        `customer-acme-session-${a.session_id}`,
        `customer-acme-session-${a.session_id}`,
        `customer-acme-session-${b.session_id}`,
      ]);
    } finally {
      await socks4.stop();
    }
  });
});
