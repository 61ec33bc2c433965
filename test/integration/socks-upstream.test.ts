import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiJson, getThroughTunnel, openTunnel, request } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startSocks5Upstream, type Socks5Upstream } from '../helpers/socks5-upstream.js';
import { startStickyport, type RunningProxy } from '../helpers/stickyport.js';

let origin: Origin;
let socks: Socks5Upstream;
let proxy: RunningProxy;

beforeAll(async () => {
  origin = await startOrigin();
  socks = await startSocks5Upstream('s0cks:p@ss');
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
