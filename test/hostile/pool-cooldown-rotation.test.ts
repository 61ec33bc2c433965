import http from 'node:http';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { apiJson, closed, getThroughTunnel, openTunnel, request } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { startStickyport, upstreamUrl, type RunningProxy } from '../helpers/stickyport.js';
import { startTcpGate, type TcpGate } from '../helpers/tcp-gate.js';

// Upstream.Urls with a member that starts refusing connections while the port's session is
// pinned to it and has a tunnel and a slow request on it: one refusal puts it on cooldown, and
// the next requests, twenty at once, must move the session once (one new id, on the other
// member), close the old session's tunnel, let the request already in flight finish, and send
// nothing more through the cooling member.


let origin: Origin;
let first: RecordingUpstream;
let second: RecordingUpstream;
let relay: TcpGate;
let proxy: RunningProxy;

beforeAll(async () => {
  origin = await startOrigin();
  first = await startRecordingUpstream();
  second = await startRecordingUpstream();
  relay = await startTcpGate(first.port);
  proxy = await startStickyport(
    { Upstream: { Urls: [upstreamUrl(relay.port), upstreamUrl(second.port)], Cooldown: { Refusals: 1, Within: '30s', For: '60s' } }, Logging: { Level: 'warn' } },
    { portCount: 1 },
  );
});

afterAll(async () => {
  await proxy?.stop();
  await relay?.close();
  await second?.close();
  await first?.close();
  await origin?.close();
});

it('a member that starts refusing: the session moves once, its tunnel closes, nothing more goes through the cooling member', async () => {
  const port = proxy.ports[0]!;
  expect((await request(port, `${origin.url}/warm`)).status).toBe(200);
  const { session_id: old, upstream } = await apiJson<{ session_id: string; upstream: string }>(port, '/session/');
  expect(upstream).toBe(`127.0.0.1:${relay.port}`);
  expect(first.seen.at(-1)!.session).toBe(old);

  const tunnel = await openTunnel(port, `127.0.0.1:${origin.port}`);
  expect(tunnel.status).toBe(200);
  expect((await getThroughTunnel(tunnel.socket, `127.0.0.1:${origin.port}`, '/in-tunnel')).status).toBe(200);
  const slow = request(port, `${origin.url}/delay/300`);
  await first.waitForRequests(first.seen.length + 1);

  relay.refuse();
  const refused = await openTunnel(port, `127.0.0.1:${origin.port}`);
  expect(refused.status).toBe(502);
  refused.socket.destroy();
  const seenBefore = first.seen.length;

  const agent = new http.Agent({ keepAlive: true, maxSockets: 20 });
  try {
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => request(port, `${origin.url}/moved-${i}`, { agent })));
    expect(answers.map((answer) => answer.status)).toEqual(Array(20).fill(200));
  } finally {
    agent.destroy();
  }
  await closed(tunnel.socket);
  expect((await slow).status).toBe(200);

  const moved = second.seen.filter((entry) => /\/moved-\d+$/.test(entry.target));
  expect(moved.length).toBe(20);
  const ids = new Set(moved.map((entry) => entry.session));
  expect(ids.size, `one move, one new id: ${[...ids].join(', ')}`).toBe(1);
  expect(ids.has(old)).toBe(false);
  expect(first.seen.slice(seenBefore).filter((entry) => /\/moved-\d+$/.test(entry.target))).toEqual([]);
  const now = await apiJson<{ session_id: string; upstream: string }>(port, '/session/');
  expect(now.upstream).toBe(`127.0.0.1:${second.port}`);
  expect(ids.has(now.session_id)).toBe(true);
});
