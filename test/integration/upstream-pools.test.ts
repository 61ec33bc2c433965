import { mkdtempSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { apiJson, request } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { freePortRange } from '../helpers/ports.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { describeRedis, startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { startStickyport, type RunningProxy } from '../helpers/stickyport.js';

// Upstream.Urls: a session is pinned to one member for its whole life, chosen when it is made
// (the member with the fewest live sessions, ties in list order) and kept in the store; a
// member refusing connections repeatedly is skipped and its sessions move.

interface SessionAnswer {
  session_id: string;
  upstream: string;
}

const urlOf = (index: number, upstream: RecordingUpstream): string => `http://pool${index}-session-{session}:secret@127.0.0.1:${upstream.port}`;
const keyOf = (upstream: RecordingUpstream): string => `127.0.0.1:${upstream.port}`;

let origin: Origin;
beforeAll(async () => {
  origin = await startOrigin();
});
afterAll(() => origin?.close());

describe('3 upstreams, 30 ports', () => {
  let upstreams: RecordingUpstream[];
  let proxy: RunningProxy;

  beforeAll(async () => {
    upstreams = await Promise.all([0, 1, 2].map(() => startRecordingUpstream()));
    proxy = await startStickyport(
      { Upstream: { Urls: upstreams.map((upstream, i) => urlOf(i, upstream)), Cooldown: { Refusals: 3, Within: '30s', For: '60s' } } },
      { portCount: 30 },
    );
  });
  afterAll(async () => {
    await proxy?.stop();
    await Promise.all(upstreams.map((upstream) => upstream.close()));
  });

  /** Which upstream saw each session id. */
  const seenAt = (): Map<string, number[]> => {
    const at = new Map<string, number[]>();
    upstreams.forEach((upstream, i) => {
      for (const seen of upstream.seen) at.set(seen.session!, [...new Set([...(at.get(seen.session!) ?? []), i])]);
    });
    return at;
  };

  it('sends every port\'s requests to one upstream only, 10/10/10', async () => {
    // All at once: sessions made at the same moment spread as well as one after another.
    await Promise.all(proxy.ports.map((port) => request(port, `${origin.url}/`)));
    for (const port of proxy.ports) expect((await request(port, `${origin.url}/`)).status).toBe(200);
    const at = seenAt();
    expect(at.size).toBe(30);
    for (const members of at.values()) expect(members).toHaveLength(1);
    expect(upstreams.map((upstream) => new Set(upstream.seen.map((seen) => seen.session)).size)).toEqual([10, 10, 10]);
    for (const port of proxy.ports) {
      const session = await apiJson<SessionAnswer>(port, '/session/');
      expect(session.upstream).toBe(keyOf(upstreams[at.get(session.session_id)![0]!]!));
    }
  });

  it('moves the sessions of an upstream that refuses connections, and leaves the others untouched', async () => {
    const before = new Map<number, SessionAnswer>();
    for (const port of proxy.ports) before.set(port, await apiJson<SessionAnswer>(port, '/session/'));
    const stopped = upstreams[1]!;
    const onStopped = proxy.ports.filter((port) => before.get(port)!.upstream === keyOf(stopped));
    expect(onStopped).toHaveLength(10);
    await stopped.close();

    // The first requests meet the refusal (502); after 3 refusals the member is skipped and the
    // next request on each of its ports leaves on a new session, on another member.
    const statuses: number[] = [];
    for (const port of onStopped) {
      for (let attempt = 0; attempt < 5; attempt++) {
        const answer = await request(port, `${origin.url}/`);
        statuses.push(answer.status);
        if (answer.status === 200) break;
        expect(answer.headers['x-stickyport-error']).toBe('UPSTREAM_REFUSED');
      }
      expect(statuses.at(-1)).toBe(200);
    }
    expect(statuses.filter((status) => status === 502)).toHaveLength(3);

    const moved: string[] = [];
    for (const port of proxy.ports) {
      const now = await apiJson<SessionAnswer>(port, '/session/');
      if (onStopped.includes(port)) {
        expect(now.session_id).not.toBe(before.get(port)!.session_id);
        expect(now.upstream).not.toBe(keyOf(stopped));
        moved.push(now.upstream);
      } else {
        expect(now).toEqual(before.get(port));
      }
    }
    // The moved sessions spread over the two left: fewest live sessions first, ties in list order.
    expect(moved.filter((key) => key === keyOf(upstreams[0]!))).toHaveLength(5);
    expect(moved.filter((key) => key === keyOf(upstreams[2]!))).toHaveLength(5);
    const logs = proxy.logs.map((line) => JSON.parse(line));
    expect(logs.filter((line) => line.msg === 'upstream refused connections repeatedly: skipped for new sessions, its sessions move on their next use')).toHaveLength(1);
    expect(logs.filter((line) => line.msg === 'session replaced' && line.reason === 'upstream cooling down')).toHaveLength(10);
  });
});

describe('a session keeps its pool member', () => {
  let upstreams: RecordingUpstream[];
  const running: RunningProxy[] = [];
  beforeAll(async () => {
    upstreams = await Promise.all([0, 1].map(() => startRecordingUpstream()));
  });
  afterEach(async () => {
    await Promise.all(running.splice(0).map((proxy) => proxy.stop()));
  });
  afterAll(() => Promise.all(upstreams.map((upstream) => upstream.close())));

  const members = async (proxy: RunningProxy, host = '127.0.0.1'): Promise<Array<[string, string]>> =>
    Promise.all(
      proxy.ports.map(async (port) => {
        const answer = JSON.parse((await request(port, 'http://portmapper/session/', { host })).body) as SessionAnswer;
        return [answer.session_id, answer.upstream] as [string, string];
      }),
    );

  it('across a restart on the file store, even with the pool listed in another order', async () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'stickyport-pool-')), 'sessions.json');
    const start = await freePortRange(4);
    const urls = upstreams.map((upstream, i) => urlOf(i, upstream));
    const launch = async (list: string[]) => {
      const proxy = await startStickyport({ Upstream: { Urls: list }, SessionStore: { Type: 'file', Path: file } }, { startPort: start, portCount: 4 });
      running.push(proxy);
      return proxy;
    };
    const first = await launch(urls);
    for (const port of first.ports) await request(port, `${origin.url}/`);
    const before = await members(first);
    expect(new Set(before.map(([, key]) => key)).size).toBe(2);
    await running.pop()!.stop();
    const second = await launch([...urls].reverse());
    expect(await members(second)).toEqual(before);
    for (const [i, port] of second.ports.entries()) {
      const from = upstreams.map((upstream) => upstream.seen.length);
      await request(port, `${origin.url}/`);
      const reached = upstreams.findIndex((upstream, k) => upstream.seen.length > from[k]!);
      expect(keyOf(upstreams[reached]!)).toBe(before[i]![1]);
      expect(upstreams[reached]!.seen.at(-1)!.session).toBe(before[i]![0]);
    }
  });

  describeRedis('on Redis', () => {
    let redis: RedisServer;
    beforeAll(async () => {
      redis = await startRedisServer();
    });
    afterAll(() => redis?.stop());

    it('in a second instance sharing the store', async () => {
      const start = await freePortRange(4);
      const settings = (host: string) => ({
        Listen: { Host: host, PortRange: { Start: start, End: start + 3 } },
        Upstream: { Urls: upstreams.map((upstream, i) => urlOf(i, upstream)) },
        SessionStore: { Type: 'redis', RedisUrl: redis.url, KeyPrefix: `pool-${randomBytes(4).toString('hex')}:` },
      });
      const shared = settings('127.0.0.1');
      const one = await startStickyport(shared, { startPort: start, portCount: 4 });
      running.push(one);
      for (const port of one.ports) await request(port, `${origin.url}/`);
      const two = await startStickyport({ ...shared, Listen: { ...shared.Listen, Host: '127.0.0.2' } }, { startPort: start, portCount: 4 });
      running.push(two);
      expect(await members(two, '127.0.0.2')).toEqual(await members(one));
      const before = await members(one);
      for (const [i, port] of two.ports.entries()) {
        const from = upstreams.map((upstream) => upstream.seen.length);
        expect((await request(port, `${origin.url}/`, { host: '127.0.0.2' })).status).toBe(200);
        const reached = upstreams.findIndex((upstream, k) => upstream.seen.length > from[k]!);
        expect([keyOf(upstreams[reached]!), upstreams[reached]!.seen.at(-1)!.session]).toEqual([before[i]![1], before[i]![0]]);
      }
    });
  });
});
