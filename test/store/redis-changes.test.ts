import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterEach, expect, it } from 'vitest';
import { createLogger } from '../../src/logging/logger.js';
import { RedisSessionStore } from '../../src/store/redis-store.js';
import { describeRedis, startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { logSink } from '../helpers/stickyport.js';
import { makeSession, TEST_ID_RULE, waitUntil } from './session-store.contract.js';

const RECOVERED = 'Redis is back: local sessions reconciled';

/** An instance: a store with its log and every port its onRemoteChange listener heard. */
async function openInstance(url: string, keyPrefix: string) {
  const sink = logSink();
  const store = await RedisSessionStore.open({ url, keyPrefix, log: createLogger('debug', sink.stream), idRule: TEST_ID_RULE });
  const heard: number[] = [];
  const waiting: Array<{ port: number; resolve: () => void }> = [];
  store.onRemoteChange((port) => {
    heard.push(port);
    for (const waiter of waiting.filter((w) => w.port === port)) {
      waiting.splice(waiting.indexOf(waiter), 1);
      waiter.resolve();
    }
  });
  /** Resolves when the listener hears `port`; fails after 1 s (a notice is meant to arrive at once). */
  const hears = (port: number) =>
    Promise.race([
      new Promise<void>((resolve) => waiting.push({ port, resolve })),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`port ${port} not heard within 1 s`)), 1_000).unref()),
    ]);
  const logged = (msg: string) => sink.lines.map((line) => JSON.parse(line)).filter((entry) => entry.msg === msg);
  return { store, heard, hears, logged };
}

describeRedis('RedisSessionStore tells other instances of its changes through Redis pub/sub (Redis)', () => {
  let server: RedisServer;
  let raw: Redis;
  const cleanups: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    await Promise.allSettled(cleanups.splice(0).map((cleanup) => cleanup()));
  });

  async function twoInstances() {
    server = await startRedisServer();
    cleanups.push(() => server.stop());
    raw = new Redis(server.url);
    cleanups.push(() => raw.quit());
    const keyPrefix = `changes-${randomBytes(4).toString('hex')}:`;
    const a = await openInstance(server.url, keyPrefix);
    const b = await openInstance(server.url, keyPrefix);
    cleanups.push(() => a.store.close(), () => b.store.close());
    const channel = `${keyPrefix}changes`;
    /** Both instances' subscriber connections are subscribed (no event says so: Redis counts them). */
    const bothListening = () =>
      waitUntil(async () => ((await raw.pubsub('NUMSUB', channel)) as [string, number])[1] === 2, 5_000, 'two subscribers');
    await bothListening();
    return { a, b, channel, bothListening };
  }

  it('A\'s replace and delete reach B\'s listener at once; A never hears its own; traffic alone announces nothing (Redis)', async () => {
    const { a, b } = await twoInstances();
    await a.store.getOrCreate(1, () => makeSession(1));
    await b.store.getOrCreate(2, () => makeSession(2));

    let heard = b.hears(1);
    await a.store.replace(makeSession(1));
    await heard;
    heard = b.hears(3);
    await a.store.delete(3);
    await heard;
    // B's own change, heard by A: A's notices came before it on the same connection, and A skipped them.
    heard = a.hears(2);
    await b.store.replace(makeSession(2));
    await heard;
    expect(a.heard).toEqual([2]);
    expect(b.heard).toEqual([1, 3]);
  });

  it('after redis-server is killed and restarted, the notices flow again (Redis)', async () => {
    const { a, b, bothListening } = await twoInstances();
    let heard = b.hears(7);
    await a.store.replace(makeSession(7));
    await heard;

    await server.kill();
    // During the outage A's change is local, and nothing fails; it is written over Redis and
    // announced on recovery (B may or may not be subscribed again by then).
    await a.store.replace(makeSession(8));
    await server.restart();
    await waitUntil(() => a.logged(RECOVERED).length > 0, 5_000, 'A recovered');
    await bothListening();

    heard = b.hears(9);
    await a.store.replace(makeSession(9));
    await heard;
    heard = a.hears(9);
    await b.store.delete(9);
    await heard;
    expect(b.heard.filter((port) => port !== 8)).toEqual([7, 9]);
    expect(a.heard).toEqual([9]);
  });

  it('a listener that throws, or a message that is not a notice, never stops the notices (Redis)', async () => {
    const { a, b, channel } = await twoInstances();
    b.store.onRemoteChange(() => {
      throw new Error('listener bug');
    });
    await raw.publish(channel, 'not json');
    await raw.publish(channel, JSON.stringify({ instance: 'someone', port: 'x' }));
    for (const port of [11, 12]) {
      const heard = b.hears(port);
      await a.store.replace(makeSession(port));
      await heard;
    }
    expect(b.heard).toEqual([11, 12]);
    expect(b.logged('a session change listener failed')).toHaveLength(2);
  });
});
