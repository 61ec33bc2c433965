import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiJson, request } from '../helpers/client.js';
import { startStickyport, type RunningProxy } from '../helpers/stickyport.js';

// Consecutive and Cooldown under concurrent requests: a burst of 429s on one port rotates it
// the number of times the rules allow, every request gets exactly one answer, and with
// rotate-and-retry no request is sent more than twice.

let origin: http.Server;
let originUrl = '';
const hits = new Map<string, number>();

beforeAll(async () => {
  origin = http.createServer((request, response) => {
    hits.set(request.url!, (hits.get(request.url!) ?? 0) + 1);
    response.writeHead(429, { 'content-type': 'text/plain' });
    response.end('slow down');
  });
  origin.listen(0, '127.0.0.1');
  await once(origin, 'listening');
  originUrl = `http://127.0.0.1:${(origin.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => origin.close(() => resolve())));

async function burst(proxy: RunningProxy, tag: string, count: number): Promise<number[]> {
  const [port] = proxy.ports as [number];
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  try {
    const answers = await Promise.all(Array.from({ length: count }, (_, i) => request(port, `${originUrl}/${tag}/${i}`, { agent })));
    return answers.map((answer) => answer.status);
  } finally {
    agent.destroy();
  }
}

describe.each(['rotate', 'rotate-and-retry'])('Consecutive 3 under a burst of 60 429s, %s', (action) => {
  let proxy: RunningProxy;
  beforeAll(async () => {
    proxy = await startStickyport({ Rotation: { Rules: [{ Name: 'slow', When: { Status: 429, Consecutive: 3 }, Action: action, Cooldown: '30s' }] }, Logging: { Level: 'warn' } }, { portCount: 1 });
  });
  afterAll(() => proxy?.stop());

  it('with a cooldown: one rotation, one answer each, no request sent more than twice', async () => {
    const before = (await apiJson<{ session_id: string }>(proxy.ports[0]!, '/session/')).session_id;
    const statuses = await burst(proxy, `${action}-cool`, 60);
    expect(statuses).toEqual(Array(60).fill(429));
    expect(proxy.app.events.counts.ruleRotations.get('slow')).toBe(1);
    expect((await apiJson<{ session_id: string }>(proxy.ports[0]!, '/session/')).session_id).not.toBe(before);
    const sent = [...hits].filter(([url]) => url.startsWith(`/${action}-cool/`)).map(([, n]) => n);
    expect(sent.length).toBe(60);
    expect(Math.max(...sent)).toBeLessThanOrEqual(action === 'rotate' ? 1 : 2);
  });
});
