import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openTunnel, request } from '../helpers/client.js';
import type { Origin } from '../helpers/origin.js';
import { freePort } from '../helpers/ports.js';
import { rawExchange, statusOf } from '../helpers/raw.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { startStickyport, upstreamUrl, type RunningProxy } from '../helpers/stickyport.js';

let stack: Stack;
let origin: Origin;
let upstream: RecordingUpstream;
let proxy: RunningProxy;

beforeAll(async () => {
  ({ origin, upstream, proxy } = stack = await startStack({ Upstream: { ConnectTimeout: '500ms' } }));
});

afterAll(() => stack?.stop());

beforeEach(() => {
  upstream.mode = 'ok';
});

describe('upstream failures', () => {
  it('answers 502 with the reason when the upstream is down, and other ports keep serving', async () => {
    const downPort = await freePort();
    const down = await startStickyport({ Upstream: { Url: upstreamUrl(downPort) } }, { portCount: 2 });
    try {
      const plain = await request(down.ports[0]!, `${origin.url}/`);
      expect(plain.status).toBe(502);
      expect(plain.headers['x-stickyport-error']).toBe('UPSTREAM_REFUSED');
      expect(plain.body).toContain(`upstream proxy 127.0.0.1:${downPort} refused the connection`);

      const tunnel = await openTunnel(down.ports[1]!, `127.0.0.1:${origin.port}`);
      expect(tunnel.status).toBe(502);
      tunnel.socket.destroy();
    } finally {
      await down.stop();
    }
    // The other proxy, and its ports, never noticed.
    expect((await request(proxy.ports[0]!, `${origin.url}/`)).status).toBe(200);
  });

  it('answers 502 when the upstream answers a CONNECT with something other than HTTP', async () => {
    const impostor = net.createServer((socket) => socket.resume().end('SSH-2.0-OpenSSH_9.2\r\n\r\n'));
    impostor.listen(0, '127.0.0.1');
    await once(impostor, 'listening');
    const { port } = impostor.address() as AddressInfo;
    const confused = await startStickyport({ Upstream: { Url: upstreamUrl(port) } }, { portCount: 1 });
    try {
      const authority = `127.0.0.1:${origin.port}`;
      const answer = await rawExchange(
        confused.ports[0]!,
        `CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`,
      );
      expect(statusOf(answer)).toBe(502);
      expect(answer).toContain(`upstream proxy 127.0.0.1:${port} answered the CONNECT with something other than HTTP`);
    } finally {
      await confused.stop();
      await new Promise((resolve) => impostor.close(resolve));
    }
  });

  it('reports an upstream 407 as such, for plain HTTP and CONNECT', async () => {
    upstream.mode = '407';
    const plain = await request(proxy.ports[0]!, `${origin.url}/`);
    expect(plain.status).toBe(502);
    expect(plain.headers['x-stickyport-error']).toBe('UPSTREAM_AUTH');
    expect(plain.body).toMatch(/answered 407/);

    const tunnel = await openTunnel(proxy.ports[0]!, `127.0.0.1:${origin.port}`);
    expect(tunnel.status).toBe(502);
    tunnel.socket.destroy();

    upstream.mode = 'ok';
    expect((await request(proxy.ports[1]!, `${origin.url}/`)).status).toBe(200);
  });

  it('answers 504 when the upstream does not answer the CONNECT within Upstream.ConnectTimeout', async () => {
    upstream.mode = 'stall';
    const started = Date.now();
    const tunnel = await openTunnel(proxy.ports[2]!, `127.0.0.1:${origin.port}`);
    expect(tunnel.status).toBe(504);
    expect(Date.now() - started).toBeGreaterThanOrEqual(450);
    tunnel.socket.destroy();
  });

  it('passes an upstream 5xx answer through unchanged (it is the provider speaking)', async () => {
    upstream.mode = '503';
    const plain = await request(proxy.ports[1]!, `${origin.url}/`);
    expect(plain.status).toBe(503);
    expect(plain.body).toBe('provider overloaded');
  });

  it('keeps credentials with @, : and % intact on the way to the upstream', async () => {
    const password = 'p@ss:w%rd%40x';
    const picky = await startRecordingUpstream('p@ss:w%rd@x');
    const encoded = await startStickyport(
      { Upstream: { Url: `http://customer-acme-session-{session}:${password}@127.0.0.1:${picky.port}` } },
      { portCount: 1 },
    );
    try {
      const answer = await request(encoded.ports[0]!, `${origin.url}/`);
      expect(answer.status).toBe(200);
      expect(picky.seen[0]!.password).toBe('p@ss:w%rd@x');
      expect(picky.seen[0]!.username).toMatch(/^customer-acme-session-[a-zA-Z]{8}$/);
      const tunnel = await openTunnel(encoded.ports[0]!, `127.0.0.1:${origin.port}`);
      expect(tunnel.status).toBe(200);
      tunnel.socket.destroy();
      // And the password is nowhere in the logs.
      expect(encoded.logs.join('\n')).not.toContain('p@ss');
    } finally {
      await encoded.stop();
      await picky.close();
    }
  });
});
