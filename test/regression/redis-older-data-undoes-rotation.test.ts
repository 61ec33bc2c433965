// Regression (adversarial pass): Redis restarted from an older snapshot brought back the
// sessions that acknowledged rotations had replaced, and both instances went back to them, with
// nothing logged. The data-set mark could not tell: it was in the snapshot too. Redis now counts
// rotations beside the mark; an instance back from an outage that finds the count below one it
// was answered writes what it knows of each port over Redis, so no acknowledged rotation (nor
// reset) is undone while an instance that knew it is running.
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterEach, expect } from 'vitest';
import { createLogger } from '../../src/logging/logger.js';
import { RedisSessionStore } from '../../src/store/redis-store.js';
import { describeRedis, itRedis, startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { logSink } from '../helpers/stickyport.js';
import { makeSession, TEST_ID_RULE, waitUntil } from '../store/session-store.contract.js';

const OLDER_DATA = "Redis came back with older data than it had answered (its count of rotations went down): writing this instance's sessions over it, so that no acknowledged rotation is undone";
const RECOVERED = 'Redis is back: local sessions reconciled';

describeRedis('Redis restarted from an older snapshot (Redis)', () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    await Promise.allSettled(cleanups.splice(0).map((cleanup) => cleanup()));
  });

  async function open(server: RedisServer, prefix: string) {
    const sink = logSink();
    const store = await RedisSessionStore.open({ url: server.url, keyPrefix: prefix, log: createLogger('debug', sink.stream), idRule: TEST_ID_RULE });
    cleanups.push(() => store.close());
    const logged = (msg: string) => sink.lines.map((line) => JSON.parse(line)).filter((entry) => entry.msg === msg);
    return { store, logged };
  }

  itRedis('a rotation and a reset acknowledged after the snapshot stand on both instances; a restart from a current snapshot changes nothing (Redis)', async () => {
    const server = await startRedisServer();
    cleanups.push(() => server.stop());
    const raw = new Redis(server.url);
    cleanups.push(() => raw.quit());
    const prefix = `older-${randomBytes(4).toString('hex')}:`;
    const a = await open(server, prefix);
    const b = await open(server, prefix);

    // Port 1 rotates W -> X, port 2 is reset after W2; the snapshot has W and W2.
    const w = await a.store.replace(makeSession(1));
    const w2 = await a.store.replace(makeSession(2));
    expect(await b.store.get(1)).toEqual(w);
    expect(await b.store.get(2)).toEqual(w2);
    await raw.save();
    const x = await a.store.replace(makeSession(1));
    expect(await a.store.delete(2)).toBe(true);
    // B reads them (as its next requests would): its local copy holds them too.
    expect(await b.store.get(1)).toEqual(x);
    expect(await b.store.get(2)).toBeUndefined();

    // A crash, and a restart from the snapshot: Redis holds W and W2 again.
    await server.kill();
    await server.restart();
    await waitUntil(() => a.logged(RECOVERED).length > 0 && b.logged(RECOVERED).length > 0, 10_000, 'recovery of both');
    expect(JSON.parse((await raw.get(`${prefix}port:1`))!).id).toBe(x.id);
    expect(await raw.exists(`${prefix}port:2`)).toBe(0);
    for (const store of [a.store, b.store]) {
      expect((await store.get(1))?.id).toBe(x.id);
      expect(await store.get(2)).toBeUndefined();
    }
    expect(a.logged(OLDER_DATA)).toHaveLength(1);
    // The count is back above what was answered before the crash (2 rotations, 1 reset).
    expect(Number(await raw.get(`${prefix}rotations`))).toBeGreaterThanOrEqual(4);

    // The control: a restart from a snapshot taken now is no older data.
    await raw.save();
    const recoveries = a.logged(RECOVERED).length;
    await server.kill();
    await server.restart();
    await waitUntil(() => a.logged(RECOVERED).length > recoveries, 10_000, 'second recovery');
    expect(a.logged(OLDER_DATA)).toHaveLength(1);
    expect(a.logged(RECOVERED).at(-1)).toMatchObject({ rolledBack: false, rotations: 0 });
    expect((await a.store.get(1))?.id).toBe(x.id);
  }, 30_000);
});
