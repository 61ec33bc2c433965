import { afterAll, beforeAll, expect, it } from 'vitest';
import { basic, connectStatus, request } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { startStickyport, type RunningProxy } from '../helpers/stickyport.js';
import { startTcpGate, type TcpGate } from '../helpers/tcp-gate.js';

// One port, three kinds of rotation at once: logins asking for country de (plain GETs and
// CONNECTs, whose upstream side is slowed so that rotations land while they open), requests
// with login fr and X-Stickyport-Session: new, and /session/new?country=jp from the API. Each
// request gets exactly one answer (200, or 409 when the tug of war lasts), and whatever reaches
// the upstream for a request carries that request's own country, tunnels sent out again included.

let origin: Origin;
let upstream: RecordingUpstream;
let relay: TcpGate;
let proxy: RunningProxy;

beforeAll(async () => {
  origin = await startOrigin();
  upstream = await startRecordingUpstream();
  relay = await startTcpGate(upstream.port, { delayMs: (n) => n % 5 });
  proxy = await startStickyport(
    {
      Upstream: { Url: `http://customer-acme-country-{country}-session-{session}:secret@127.0.0.1:${relay.port}`, Parameters: { country: 'us' } },
      Authentication: { Username: 'scraper', Password: 'pw', ParseUsernameParameters: true },
      Logging: { Level: 'warn' },
    },
    { portCount: 1 },
  );
});

afterAll(async () => {
  await proxy?.stop();
  await relay?.close();
  await upstream?.close();
  await origin?.close();
});

function connect(port: number, country: string, tag: string): Promise<number> {
  return connectStatus(port, `127.0.0.1:${origin.port}`, { 'proxy-authorization': basic(`scraper-country-${country}`, 'pw'), 'x-tag': tag });
}

it('logins de, control-header rotations with fr and API rotations to jp: one answer each, every request out with its own country', async () => {
  const port = proxy.ports[0]!;
  const from = upstream.seen.length;
  const de = { 'proxy-authorization': basic('scraper-country-de', 'pw') };
  const fr = { 'proxy-authorization': basic('scraper-country-fr', 'pw'), 'x-stickyport-session': 'new' };
  const work: Array<Promise<number>> = [];
  for (let i = 0; i < 30; i++) {
    work.push(request(port, `${origin.url}/headers?c=de&i=${i}`, { headers: de }).then((answer) => answer.status));
    work.push(connect(port, 'de', `de-${i}`));
    if (i % 3 === 0) work.push(request(port, `${origin.url}/headers?c=fr&i=${i}`, { headers: fr }).then((answer) => answer.status));
    if (i % 5 === 0) work.push(request(port, 'http://portmapper/session/new?country=jp', { headers: de }).then((answer) => answer.status));
  }
  const statuses = await Promise.all(work);
  expect(statuses.length).toBe(30 * 2 + 10 + 6);
  expect(statuses.filter((status) => status !== 200 && status !== 409)).toEqual([]);
  expect(statuses.filter((status) => status === 200).length).toBeGreaterThan(30);
  for (const seen of upstream.seen.slice(from)) {
    const asked = seen.kind === 'http' ? /c=(\w+)/.exec(seen.target)?.[1] : 'de';
    expect(seen.username, `${seen.kind} ${seen.target}`).toContain(`-country-${asked}-`);
  }
});
