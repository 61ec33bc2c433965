import http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startWithAdmin, type AdminClient } from '../helpers/admin.js';
import { openTunnel } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { upstreamUrl, type RunningProxy } from '../helpers/stickyport.js';

// The admin server took any number of connections, which need no token and were held for half
// a minute before their 408: 600 idle ones took the descriptors the proxy ports' limits count
// on, and tunnels failed with EMFILE. It now takes 64 at once, 16 from one address, and closes
// the rest at accept; the proxy ports never notice.

let origin: Origin;
let upstream: RecordingUpstream;
let proxy: RunningProxy & { admin: AdminClient };
const held: net.Socket[] = [];

beforeAll(async () => {
  [origin, upstream] = await Promise.all([startOrigin(), startRecordingUpstream()]);
  proxy = await startWithAdmin({ Upstream: { Url: upstreamUrl(upstream.port) } }, { portCount: 1 });
});

afterAll(async () => {
  for (const socket of held) socket.destroy();
  await proxy?.stop();
  await Promise.all([origin?.close(), upstream?.close()]);
});

/** A connection to the admin port from `from`: whether the server kept it (true) or closed it at once (false). */
function idleConnection(from: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port: proxy.admin.port, localAddress: from });
    held.push(socket);
    // Closed at accept with the probe already sent: a reset.
    socket.once('error', () => resolve(false));
    socket.once('close', () => resolve(false));
    // The server closes a refused one at accept; a kept one answers the probe sent on it.
    socket.once('connect', () => socket.write(`GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:${proxy.admin.port}\r\n\r\n`));
    socket.once('data', () => resolve(true));
  });
}

function healthz(from: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = http.get({ host: '127.0.0.1', port: proxy.admin.port, path: '/healthz', localAddress: from, agent: false }, (response) => {
      response.resume();
      resolve(response.statusCode!);
    });
    request.on('error', reject);
  });
}

it('keeps 16 connections from one address and 64 in all; the rest are closed at accept, probes from elsewhere still answer, tunnels still open', async () => {
  const fromOne = await Promise.all(Array.from({ length: 20 }, () => idleConnection('127.0.0.2')));
  expect(fromOne.filter(Boolean)).toHaveLength(16);
  // Another address still gets in.
  expect(await healthz('127.0.0.3')).toBe(200);
  for (const from of ['127.0.0.3', '127.0.0.4', '127.0.0.5']) {
    expect((await Promise.all(Array.from({ length: 16 }, () => idleConnection(from)))).every(Boolean)).toBe(true);
  }
  // 64 held: one more, from anywhere, is closed at once.
  expect(await idleConnection('127.0.0.6')).toBe(false);
  // The proxy port is untouched by all of it.
  const tunnel = await openTunnel(proxy.ports[0]!, `127.0.0.1:${origin.port}`);
  expect(tunnel.status).toBe(200);
  tunnel.socket.destroy();
  // Letting go of them makes room again.
  for (const socket of held.splice(0)) socket.destroy();
  await expect.poll(() => healthz('127.0.0.6').catch(() => 0)).toBe(200);
});
