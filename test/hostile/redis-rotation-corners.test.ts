import http from 'node:http';
import { afterAll, beforeAll, expect } from 'vitest';
import { closed, openTunnel, request } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { freePortRange } from '../helpers/ports.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { describeRedis, itRedis, startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { startSocksUpstream, type SocksUpstream } from '../helpers/socks-upstream.js';
import { startStickyport, upstreamUrl, type RunningProxy } from '../helpers/stickyport.js';

// Two instances on one Redis (A on 127.0.0.1, B on 127.0.0.2, the same port numbers): B
// rotates. A must close its tunnels on the rule route and through the SOCKS upstream with no
// request needed, and a keep-alive connection A's client opened before must send its next
// requests with B's new id on every route kind.

const SESSION = /-session-([^-:]+)/;
const idOf = (username: string): string | undefined => SESSION.exec(username)?.[1];

describeRedis('rotation by another instance on Redis, across route kinds', () => {
  let redis: RedisServer;
  let origin: Origin;
  let main: RecordingUpstream;
  let side: RecordingUpstream;
  let socks: SocksUpstream;
  let a: RunningProxy;
  let b: RunningProxy;
  let httpPort: number;
  let socksPort: number;

  beforeAll(async () => {
    [redis, origin, main, side, socks, httpPort] = await Promise.all([
      startRedisServer(),
      startOrigin(),
      startRecordingUpstream(),
      startRecordingUpstream(),
      startSocksUpstream('pw'),
      freePortRange(2),
    ]);
    socksPort = httpPort + 1;
    const keyPrefix = `corners-${Date.now()}:`;
    const settings = (host: string) => ({
      Listen: { Host: host, AllowPrivateTargets: true },
      Upstream: { Url: upstreamUrl(main.port) },
      SessionStore: { Type: 'redis', RedisUrl: redis.url, KeyPrefix: keyPrefix },
      Logging: { Level: 'warn' },
      Mappings: [
        {
          Name: 'http',
          Listen: { Port: httpPort },
          HostRules: [{ Pattern: 'side.test', OverrideHost: '127.0.0.1', OverridePort: origin.port, Upstream: { Url: `http://side-session-{session}:secret@127.0.0.1:${side.port}` } }],
        },
        { Name: 'socks', Listen: { Port: socksPort }, Upstream: { Url: `socks5h://sx-session-{session}:pw@127.0.0.1:${socks.port}` } },
      ],
    });
    a = await startStickyport(settings('127.0.0.1'), { startPort: httpPort, portCount: 2 });
    b = await startStickyport(settings('127.0.0.2'), { startPort: httpPort, portCount: 2 });
  });

  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    await Promise.all([main?.close(), side?.close(), socks?.close(), origin?.close()]);
    await redis?.stop();
  });

  itRedis('B rotates on Redis: A closes its rule-route and SOCKS-upstream tunnels, and its keep-alive clients leave with B\'s ids', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      expect((await request(httpPort, `${origin.url}/a-main`, { agent })).status).toBe(200);
      expect((await request(httpPort, 'http://side.test/a-side', { agent })).status).toBe(200);
      expect((await request(socksPort, `${origin.url}/a-socks`, { agent })).status).toBe(200);
      const oldHttp = idOf(main.seen.at(-1)!.username)!;
      expect(idOf(side.seen.at(-1)!.username)).toBe(oldHttp);
      const oldSocks = idOf(socks.usernames.at(-1)!)!;

      const sideTunnel = await openTunnel(httpPort, 'side.test:80');
      const socksTunnel = await openTunnel(socksPort, `127.0.0.1:${origin.port}`);
      expect([sideTunnel.status, socksTunnel.status]).toEqual([200, 200]);
      expect(side.seen.at(-1)!.kind).toBe('connect');
      expect(side.seen.at(-1)!.session).toBe(oldHttp);
      expect(idOf(socks.usernames.at(-1)!)).toBe(oldSocks);

      const rotate = async (port: number): Promise<string> => {
        const answer = await request(port, 'http://portmapper/session/new', { host: '127.0.0.2' });
        expect(answer.status).toBe(200);
        return (JSON.parse(answer.body) as { session_id: string }).session_id;
      };
      expect([sideTunnel.socket.destroyed, socksTunnel.socket.destroyed]).toEqual([false, false]);
      const newHttp = await rotate(httpPort);
      const newSocks = await rotate(socksPort);
      const socksLogins = socks.usernames.length;

      // The tunnels close with no request on A needed (README: within a second).
      const deadline = new Promise((_, reject) => setTimeout(() => reject(new Error('A kept a tunnel of the old session open')), 3_000));
      const which: string[] = [];
      await Promise.race([
        Promise.all([closed(sideTunnel.socket).then(() => which.push('side')), closed(socksTunnel.socket).then(() => which.push('socks'))]),
        deadline.catch((error: Error) => {
          throw new Error(`${error.message} (closed: ${which.join(', ') || 'none'})`);
        }),
      ]);
      // Keep-alive connections A's client opened before: the next requests carry B's ids.
      expect((await request(httpPort, `${origin.url}/a-main-after`, { agent })).status).toBe(200);
      expect((await request(httpPort, 'http://side.test/a-side-after', { agent })).status).toBe(200);
      expect((await request(socksPort, `${origin.url}/a-socks-after`, { agent })).status).toBe(200);
      expect(main.seen.filter((entry) => entry.target.endsWith('/a-main-after')).map((entry) => entry.session)).toEqual([newHttp]);
      expect(side.seen.filter((entry) => entry.target.endsWith('/a-side-after')).map((entry) => entry.session)).toEqual([newHttp]);
      const since = socks.usernames.slice(socksLogins);
      expect(since.length).toBeGreaterThan(0);
      for (const username of since) expect(idOf(username)).toBe(newSocks);
    } finally {
      agent.destroy();
    }
  });
});
