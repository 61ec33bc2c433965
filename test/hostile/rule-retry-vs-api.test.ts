import http from 'node:http';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startHttpTarget, type HttpTarget } from '../helpers/http-target.js';
import { apiJson, request } from '../helpers/client.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { startStickyport, upstreamUrl, type RunningProxy } from '../helpers/stickyport.js';

// A rotate-and-retry rule firing (a 429 on the first try of each path) while another client
// rotates the port through the API and a third through X-Stickyport-Session: new. Every request
// gets one answer; none sent after an API or control-header rotation answered carries an id
// that existed before that answer, on its first try or its retry.

let target: HttpTarget;
let targetUrl: string;
const tried = new Set<string>();
let upstream: RecordingUpstream;
let proxy: RunningProxy;

beforeAll(async () => {
  target = await startHttpTarget((req, res) => {
    const first = !tried.has(req.url!);
    tried.add(req.url!);
    const status = req.url!.startsWith('/limited/') && first ? 429 : 200;
    res.writeHead(status, { 'content-type': 'text/plain' }).end(String(status));
  });
  targetUrl = target.url;
  upstream = await startRecordingUpstream();
  proxy = await startStickyport(
    {
      Upstream: { Url: upstreamUrl(upstream.port) },
      Rotation: { Rules: [{ Name: 'limited', When: { Status: [429] }, Action: 'rotate-and-retry', Cooldown: 0 }] },
      Logging: { Level: 'warn' },
    },
    { portCount: 1 },
  );
});

afterAll(async () => {
  await proxy?.stop();
  await upstream?.close();
  await target?.close();
});

it('rotate-and-retry against API and control-header rotations: one answer each, nothing sent after an answer leaves with an older id', async () => {
  const port = proxy.ports[0]!;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  const sent: Array<{ name: string; sentAt: number }> = [];
  const answered: Array<{ at: number; id: string }> = [];
  let next = 0;
  let running = true;
  let rotationsDone = false;
  // Requests sent after the first rotation answered: only those can be judged.
  const judgeable = (): number => (answered.length === 0 ? 0 : sent.filter(({ sentAt }) => sentAt >= answered[0]!.at).length);
  const worker = async (): Promise<void> => {
    for (let i = 0; i < 200 && running; i++) {
      const name = `limited/${++next}`;
      sent.push({ name, sentAt: performance.now() });
      const answer = await request(port, `${targetUrl}/${name}`, { agent });
      expect([200, 429]).toContain(answer.status);
      // Retries make each request slower: keep sending until enough can be judged.
      if (rotationsDone && judgeable() >= 40) running = false;
    }
  };
  const controlled = async (): Promise<void> => {
    for (let i = 0; i < 10 && running; i++) {
      const name = `control/${i}`;
      const answer = await request(port, `${targetUrl}/${name}`, { agent, headers: { 'x-stickyport-session': 'new' } });
      expect(answer.status).toBe(200);
      const entry = upstream.seen.find((seen) => seen.target.endsWith(`/${name}`))!;
      answered.push({ at: performance.now(), id: entry.session! });
    }
  };
  try {
    const workers = [...Array.from({ length: 16 }, worker), controlled()];
    for (let i = 0; i < 15; i++) {
      const { session_id: id } = await apiJson<{ session_id: string }>(port, '/session/new');
      answered.push({ at: performance.now(), id });
    }
    rotationsDone = true;
    if (judgeable() >= 40) running = false;
    await Promise.all(workers);
  } finally {
    agent.destroy();
  }
  // When each id was first seen (at the upstream, or in an answer that named it).
  const born = new Map<string, number>();
  for (const entry of upstream.seen) if (entry.session && !born.has(entry.session)) born.set(entry.session, entry.at);
  for (const { at, id } of answered) if (!born.has(id) || born.get(id)! > at) born.set(id, at);
  const byName = new Map<string, string[]>();
  for (const entry of upstream.seen) {
    const name = /\/(limited\/\d+)$/.exec(entry.target)?.[1];
    if (name) byName.set(name, [...(byName.get(name) ?? []), entry.session!]);
  }
  let judged = 0;
  for (const { name, sentAt } of sent) {
    const last = answered.filter((rotation) => rotation.at <= sentAt).sort((a, b) => a.at - b.at).at(-1);
    if (!last) continue;
    judged++;
    for (const id of byName.get(name) ?? []) {
      const stale = id !== last.id && born.get(id)! < last.at;
      expect(stale, `${name} sent after ${last.id} was answered went out with ${id}`).toBe(false);
    }
  }
  expect(judged).toBeGreaterThan(20);
  // The rule did fire and retry: paths tried twice, on two ids.
  const retried = [...byName.values()].filter((ids) => ids.length === 2 && ids[0] !== ids[1]).length;
  expect(retried).toBeGreaterThan(5);
});
