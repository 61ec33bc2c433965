import http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AddressShares } from '../../src/admin/admin-server.js';
import { startWithAdmin, type AdminClient } from '../helpers/admin.js';
import { openTunnel } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { upstreamUrl, type RunningProxy } from '../helpers/stickyport.js';

// The admin server took any number of connections, which need no token and were held for half
// a minute before their 408: 600 idle ones took the descriptors the proxy ports' limits count
// on, and tunnels failed with EMFILE. It now holds 64 at once (16 from one remote address), of
// which event streams take at most 32, and closes the rest at accept; the proxy ports never
// notice.

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

/** A connection to the admin port sending `head`: whether the server answered it (true) or closed it at once (false). */
function admitted(head: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port: proxy.admin.port });
    held.push(socket);
    // Closed at accept with the head already sent: a reset.
    socket.once('error', () => resolve(false));
    socket.once('close', () => resolve(false));
    socket.once('connect', () => socket.write(head));
    socket.once('data', (chunk: Buffer) => resolve(chunk.toString('latin1').startsWith('HTTP/1.1 200')));
  });
}

const probe = (): string => `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:${proxy.admin.port}\r\n\r\n`;
const stream = (): string => `GET /api/events HTTP/1.1\r\nHost: 127.0.0.1:${proxy.admin.port}\r\n\r\n`;

function healthz(): Promise<number> {
  return new Promise((resolve) => {
    const request = http.get({ host: '127.0.0.1', port: proxy.admin.port, path: '/healthz', agent: false }, (response) => {
      response.resume();
      resolve(response.statusCode!);
    });
    request.on('error', () => resolve(0));
  });
}

it('event streams take at most 32 connections: the 33rd gets 503, and probes still answer', async () => {
  expect((await Promise.all(Array.from({ length: 32 }, () => admitted(stream())))).every(Boolean)).toBe(true);
  const refused = await new Promise<string>((resolve) => {
    http.get({ host: '127.0.0.1', port: proxy.admin.port, path: '/api/events', agent: false }, (response) => {
      response.resume();
      resolve(`${response.statusCode} ${response.headers['retry-after']}`);
    });
  });
  expect(refused).toBe('503 10');
  expect(await healthz()).toBe(200);
});

it('holds 64 connections in all; one more is closed at accept, while the proxy port serves as before', async () => {
  // 32 streams are held from the test before: 32 more connections fill the admin server.
  expect((await Promise.all(Array.from({ length: 32 }, () => admitted(probe())))).every(Boolean)).toBe(true);
  expect(await admitted(probe())).toBe(false);
  const tunnel = await openTunnel(proxy.ports[0]!, `127.0.0.1:${origin.port}`);
  expect(tunnel.status).toBe(200);
  tunnel.socket.destroy();
  // Letting go of them makes room again.
  for (const socket of held.splice(0)) socket.destroy();
  await expect.poll(() => healthz()).toBe(200);
});

describe('shares per client address', () => {
  it('admits 16 from one remote address, then none until one closes; loopback is not counted', () => {
    const shares = new AddressShares(16);
    for (let i = 0; i < 16; i++) expect(shares.admit('10.1.2.3')).toBe(true);
    expect(shares.admit('10.1.2.3')).toBe(false);
    expect(shares.admit('::ffff:10.1.2.3')).toBe(false);
    expect(shares.admit('10.1.2.4')).toBe(true);
    shares.release('10.1.2.3');
    expect(shares.admit('10.1.2.3')).toBe(true);
    for (let i = 0; i < 100; i++) expect(shares.admit(i % 2 ? '127.0.0.1' : '::ffff:127.0.0.1')).toBe(true);
  });
});
