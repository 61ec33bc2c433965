import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basic, openTunnel, request } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startStickyport, type RunningProxy } from '../helpers/stickyport.js';

// A direct-mode port must not let a remote client reach the proxy host's own services (the
// Redis holding the sessions, an admin page on 10.x). A public listener refuses them by
// default; a loopback listener's clients are already on the host, so there it is allowed
// unless Listen.AllowPrivateTargets says false.
const LOGIN = { Required: true, Username: 'client', Password: 'client-pass' };
const AUTH = { 'proxy-authorization': basic('client', 'client-pass') };

let origin: Origin;
let service: net.Server;
let servicePort: number;
let serviceConnections = 0;

beforeAll(async () => {
  origin = await startOrigin();
  // Stands in for the host's Redis: counts every connection that reaches it.
  service = net.createServer((socket) => {
    serviceConnections++;
    socket.end('+PONG\r\n');
  });
  await new Promise<void>((resolve) => service.listen(0, '127.0.0.1', resolve));
  servicePort = (service.address() as net.AddressInfo).port;
});
afterAll(async () => {
  await origin?.close();
  service?.close();
});

async function withProxy(settings: Record<string, Record<string, unknown>>, run: (proxy: RunningProxy) => Promise<void>): Promise<void> {
  const proxy = await startStickyport(settings, { portCount: 1 });
  try {
    await run(proxy);
  } finally {
    await proxy.stop();
  }
}

describe('direct connections to private targets', () => {
  it('a public listener refuses loopback targets by address and by name, on CONNECT and plain HTTP', async () => {
    await withProxy({ Listen: { Host: '0.0.0.0' }, Authentication: LOGIN }, async (proxy) => {
      const port = proxy.ports[0]!;
      const before = serviceConnections;
      for (const authority of [`127.0.0.1:${servicePort}`, `localhost:${servicePort}`, `[::ffff:127.0.0.1]:${servicePort}`, `127.1:${servicePort}`]) {
        const tunnel = await openTunnel(port, authority, AUTH);
        expect(tunnel.status, authority).toBe(403);
        tunnel.socket.destroy();
      }
      for (const url of [`http://127.0.0.1:${origin.port}/`, `http://localhost:${origin.port}/`, `http://0.0.0.0:${origin.port}/`]) {
        const answer = await request(port, url, { headers: AUTH });
        expect(answer.status, url).toBe(403);
        expect(answer.headers['x-stickyport-error']).toBe('TARGET_FORBIDDEN');
        expect(answer.body).toContain('Listen.AllowPrivateTargets');
      }
      expect(serviceConnections).toBe(before);
      expect(origin.requests.length).toBe(0);
    });
  });

  it('a public listener with AllowPrivateTargets true reaches them', async () => {
    await withProxy({ Listen: { Host: '0.0.0.0', AllowPrivateTargets: true }, Authentication: LOGIN }, async (proxy) => {
      const answer = await request(proxy.ports[0]!, `http://127.0.0.1:${origin.port}/`, { headers: AUTH });
      expect(answer.status).toBe(200);
      expect(answer.body).toBe('hello');
    });
  });

  // A host rule's OverrideHost written as another spelling of 127.0.0.1 passed the check, which
  // saw no address in it, and undici's URL made it 127.0.0.1, which net.connect never looks up:
  // plain HTTP reached the loopback origin (CONNECT and SOCKS were refused).
  it('refuses a host rule\'s OverrideHost that spells a loopback address another way, on plain HTTP and CONNECT', async () => {
    const spellings = ['127.1', '0x7f.0.0.1', '2130706433', '0177.0.0.1', '127.0.0.1.', '0x7f000001', '127.000.000.001', '[::ffff:127.0.0.1]'];
    const HostRules = spellings.map((host, i) => ({ Pattern: `h${i}.test`, Action: i % 2 === 0 ? 'Allow' : 'Bypass', OverrideHost: host, OverridePort: origin.port }));
    await withProxy({ Listen: { AllowPrivateTargets: false }, HostRules } as unknown as Record<string, Record<string, unknown>>, async (proxy) => {
      const before = origin.requests.length;
      for (const [i, host] of spellings.entries()) {
        const answer = await request(proxy.ports[0]!, `http://h${i}.test/admin`);
        expect(answer.status, host).toBe(403);
        expect(answer.headers['x-stickyport-error'], host).toBe('TARGET_FORBIDDEN');
        const tunnel = await openTunnel(proxy.ports[0]!, `h${i}.test:443`);
        expect(tunnel.status, host).toBe(403);
        tunnel.socket.destroy();
      }
      expect(origin.requests.length).toBe(before);
    });
  });

  it('a loopback listener allows them by default, and refuses them with AllowPrivateTargets false', async () => {
    await withProxy({}, async (proxy) => {
      expect((await request(proxy.ports[0]!, `http://localhost:${origin.port}/`)).status).toBe(200);
      const tunnel = await openTunnel(proxy.ports[0]!, `127.0.0.1:${servicePort}`);
      expect(tunnel.status).toBe(200);
      tunnel.socket.destroy();
    });
    await withProxy({ Listen: { AllowPrivateTargets: false } }, async (proxy) => {
      const before = serviceConnections;
      expect((await request(proxy.ports[0]!, `http://localhost:${origin.port}/`)).status).toBe(403);
      const tunnel = await openTunnel(proxy.ports[0]!, `127.0.0.1:${servicePort}`);
      expect(tunnel.status).toBe(403);
      tunnel.socket.destroy();
      expect(serviceConnections).toBe(before);
    });
  });
});
