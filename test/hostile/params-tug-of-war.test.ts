import { afterAll, beforeAll, expect, it } from 'vitest';
import { connectStatus, request } from '../helpers/client.js';
import type { Origin } from '../helpers/origin.js';
import type { RecordingUpstream } from '../helpers/recording-upstream.js';
import { startCountryStack, type Stack } from '../helpers/stack.js';
import type { RunningProxy } from '../helpers/stickyport.js';

// Clients of one port pulling its session's parameters different ways at the same moment,
// through X-Stickyport-Session-Params on plain requests and CONNECTs: each request gets one
// answer (200, or 409 PARAMETERS_CONFLICT), every request that went upstream went with the
// parameters it asked for, and the port serves afterwards.

let stack: Stack;
let origin: Origin;
let upstream: RecordingUpstream;
let proxy: RunningProxy;

beforeAll(async () => {
  stack = await startCountryStack(1);
  ({ origin, upstream, proxy } = stack);
});
afterAll(() => stack?.stop());

function connect(port: number, country: string): Promise<number> {
  return connectStatus(port, `127.0.0.1:${origin.port}`, { 'X-Stickyport-Session-Params': `country=${country}` });
}

it('60 requests at once, three countries: one answer each, each sent with its own country', async () => {
  const [port] = proxy.ports as [number];
  const from = upstream.seen.length;
  const countries = ['de', 'fr', 'jp'];
  const statuses = await Promise.all(
    Array.from({ length: 60 }, (_, i) => {
      const country = countries[i % 3]!;
      return i % 2 === 0
        ? request(port, `${origin.url}/headers?c=${country}`, { headers: { 'X-Stickyport-Session-Params': `country=${country}` } }).then((answer) => answer.status)
        : connect(port, country);
    }),
  );
  expect(statuses.every((status) => status === 200 || status === 409)).toBe(true);
  expect(statuses.filter((status) => status === 200).length).toBeGreaterThan(0);
  for (const seen of upstream.seen.slice(from)) {
    const asked = seen.kind === 'http' ? /c=(\w+)/.exec(seen.target)?.[1] : undefined;
    if (asked) expect(seen.username).toContain(`-country-${asked}-`);
  }
  expect((await request(port, `${origin.url}/`)).status).toBe(200);
});
