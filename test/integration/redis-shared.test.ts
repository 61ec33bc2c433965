import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import net from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { request } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { freePortRange } from '../helpers/ports.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { describeRedis, startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { spawnStickyport, writeConfig, type SpawnedStickyport } from '../helpers/spawn-stickyport.js';
import { upstreamUrl } from '../helpers/stickyport.js';

// The two instances listen on the same port numbers: one on 127.0.0.1, the other on 127.0.0.2
// (all of 127.0.0.0/8 is loopback on Linux). For the session map, they are the same ports.
const HOST_A = '127.0.0.1';
const HOST_B = '127.0.0.2';
const OUTAGE = 'Redis is unreachable: serving sessions from local memory until it is back';
const RECOVERED = 'Redis is back: local sessions reconciled';

describeRedis('two stickyport processes on one Redis', () => {
  let redis: RedisServer;
  let origin: Origin;
  let upstream: RecordingUpstream;
  let start: number;
  const instances = new Map<string, SpawnedStickyport>();

  beforeAll(async () => {
    [redis, origin, upstream, start] = await Promise.all([startRedisServer(), startOrigin(), startRecordingUpstream(), freePortRange(4)]);
    const keyPrefix = `shared-${randomBytes(4).toString('hex')}:`;
    await Promise.all(
      [HOST_A, HOST_B].map(async (host) => {
        const proc = spawnStickyport([
          '--config',
          writeConfig({
            Listen: { Host: host, PortRange: { Start: start, End: start + 3 }, StickyProxyLifetime: 10 },
            Upstream: { Url: upstreamUrl(upstream.port) },
            SessionAPI: { Enabled: true, Domain: 'portmapper' },
            SessionStore: { Type: 'redis', RedisUrl: redis.url, KeyPrefix: keyPrefix },
            Logging: { Level: 'info' },
          }),
        ]);
        instances.set(host, proc);
        expect(JSON.parse(await proc.waitForLine(/"msg":"stickyport listening"/)).store).toBe('redis');
      }),
    );
  });
  afterAll(async () => {
    await Promise.all([...instances.values()].map((proc) => proc.stop('SIGKILL')));
    await Promise.all([upstream?.close(), origin?.close(), redis?.stop()]);
  });

  /** Sends a proxied request through `host`:`port` and answers the session id the upstream saw for it. */
  let requests = 0;
  async function sessionVia(host: string, port: number): Promise<string | undefined> {
    const marker = `r${++requests}`;
    const answer = await request(port, `${origin.url}/${marker}`, { host });
    expect(answer).toMatchObject({ status: 200, body: 'hello' });
    return upstream.seen.find((entry) => entry.target.endsWith(`/${marker}`))?.session;
  }
  const api = async (host: string, port: number, action: string) => JSON.parse((await request(port, `http://portmapper/session/${action}`, { host })).body);
  /** Opens a CONNECT tunnel to the origin through `host`:`port`; resolves once it is established. */
  async function tunnelVia(host: string, port: number): Promise<net.Socket> {
    const socket = net.connect(port, host);
    // A rotation cuts a tunnel with a TCP reset: judged by its close, the error is expected.
    socket.on('error', () => undefined);
    await once(socket, 'connect');
    socket.write(`CONNECT 127.0.0.1:${origin.port} HTTP/1.1\r\nHost: x\r\n\r\n`);
    const [chunk] = (await once(socket, 'data')) as [Buffer];
    expect(chunk.toString('latin1', 0, 12)).toBe('HTTP/1.1 200');
    return socket;
  }

  /** A rotation on A closes B's tunnel for the port within 1 s, with no request through B. */
  async function rotationReaches(port: number): Promise<void> {
    const tunnel = await tunnelVia(HOST_B, port);
    // Not events.once: it rejects on the reset's 'error' before the close.
    const closedAt = new Promise<number>((resolve) => tunnel.once('close', () => resolve(performance.now())));
    await api(HOST_A, port, 'new');
    const answeredAt = performance.now();
    const closedWithin = (await Promise.race([closedAt, delay(1_500).then(() => Infinity)])) - answeredAt;
    tunnel.destroy();
    expect(closedWithin).toBeLessThan(1_000);
  }

  const logged = (host: string, msg: string) => instances.get(host)!.stdout.filter((line) => JSON.parse(line).msg === msg);

  it('both instances use the same session for a port, and each sees the other\'s reset and new on its next request (Redis)', async () => {
    const port = start;
    const first = await sessionVia(HOST_A, port);
    expect(first).toMatch(/^[a-zA-Z]{8}$/);
    expect(await sessionVia(HOST_B, port)).toBe(first);

    expect(await api(HOST_A, port, 'reset')).toEqual({ success: true });
    const afterReset = await sessionVia(HOST_B, port);
    expect(afterReset).not.toBe(first);
    expect(await sessionVia(HOST_A, port)).toBe(afterReset);

    const renewed = (await api(HOST_B, port, 'new')).session_id;
    expect(renewed).not.toBe(afterReset);
    expect(await sessionVia(HOST_A, port)).toBe(renewed);
    expect((await api(HOST_A, port, '')).session_id).toBe(renewed);
  });

  it("a rotation on one instance closes the other's tunnels for that port within 1 s, with no request (Redis)", async () => {
    await rotationReaches(start);
    await rotationReaches(start);
  });

  it('many concurrent first requests on a fresh port, through both instances, end with one session (Redis)', async () => {
    const port = start + 1;
    const ids = await Promise.all(Array.from({ length: 40 }, (_, i) => sessionVia(i % 2 ? HOST_A : HOST_B, port)));
    expect(new Set(ids).size).toBe(1);
    expect(ids[0]).toBeDefined();
    const created = [HOST_A, HOST_B].flatMap((host) => logged(host, 'session created')).filter((line) => JSON.parse(line).port === port);
    expect(created).toHaveLength(1);
    expect((await api(HOST_B, port, '')).session_id).toBe(ids[0]);
  });

  it('Redis killed mid-run: requests keep succeeding, and after its restart both instances agree again (Redis)', async () => {
    const known = start + 2;
    const fresh = start + 3;
    const before = await sessionVia(HOST_A, known);
    expect(await sessionVia(HOST_B, known)).toBe(before);

    await redis.kill();
    for (let round = 0; round < 5; round++) {
      for (const host of [HOST_A, HOST_B]) {
        // Each instance goes on with the session it last read from Redis.
        expect(await sessionVia(host, known)).toBe(before);
        expect(await sessionVia(host, fresh)).toBeDefined();
      }
    }
    for (const host of [HOST_A, HOST_B]) {
      await instances.get(host)!.waitForLine(new RegExp(OUTAGE));
      expect(logged(host, OUTAGE)).toHaveLength(1);
    }

    await redis.restart();
    await Promise.all([HOST_A, HOST_B].map((host) => instances.get(host)!.waitForLine(new RegExp(RECOVERED))));
    const deadline = Date.now() + 5_000;
    let a = await sessionVia(HOST_A, fresh);
    let b = await sessionVia(HOST_B, fresh);
    while (a !== b && Date.now() < deadline) {
      await delay(50);
      [a, b] = [await sessionVia(HOST_A, fresh), await sessionVia(HOST_B, fresh)];
    }
    expect(b).toBe(a);
    expect((await api(HOST_A, fresh, '')).session_id).toBe((await api(HOST_B, fresh, '')).session_id);
    // Redis came back empty: the sessions the instances kept were written back, not replaced.
    expect(await sessionVia(HOST_A, known)).toBe(before);
    expect(await sessionVia(HOST_B, known)).toBe(before);
    for (const host of [HOST_A, HOST_B]) expect(logged(host, RECOVERED)).toHaveLength(1);
    // The change subscriber came back with Redis.
    await rotationReaches(known);

    const exits = await Promise.all([...instances.values()].map((proc) => proc.stop('SIGTERM')));
    expect(exits).toEqual([0, 0]);
  });
});
