import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { IdentityEvent } from '../../src/identity/identity-events.js';
import { apiJson, request } from '../helpers/client.js';
import { eventually } from '../helpers/eventually.js';
import { startAddressEcho, startExitProvider, type AddressEcho, type ExitProvider } from '../helpers/exit-provider.js';
import { startStickyport, type RunningProxy, type Settings } from '../helpers/stickyport.js';

// Session.KeepAlive: an idle session gets one small request through its own route, never two at
// once, and none once it rotated or expired. Judged by the provider, which records each request
// with its session id.

let provider: ExitProvider;
let echo: AddressEcho;
let proxy: RunningProxy | undefined;

beforeAll(async () => {
  provider = await startExitProvider();
  echo = await startAddressEcho();
});

afterEach(async () => {
  provider.decide = undefined;
  provider.release();
  await proxy?.stop();
  proxy = undefined;
});

afterAll(async () => {
  await provider.close();
  await echo.close();
});

const INTERVAL_MS = 200;

async function start(more: Settings = {}): Promise<RunningProxy> {
  proxy = await startStickyport(
    {
      Upstream: { Url: `http://customer-acme-session-{session}:secret@127.0.0.1:${provider.port}` },
      Identity: { EchoUrl: `${echo.url}/ip` },
      Session: { KeepAlive: `${INTERVAL_MS}ms` },
      ...more,
    },
    { portCount: 1 },
  );
  return proxy;
}

function nextEvent<T extends IdentityEvent['type']>(running: RunningProxy, type: T, test: (event: Extract<IdentityEvent, { type: T }>) => boolean = () => true): Promise<Extract<IdentityEvent, { type: T }>> {
  return new Promise((resolve) => {
    const off = running.app.events.on((event) => {
      if (event.type === type && test(event as Extract<IdentityEvent, { type: T }>)) {
        off();
        resolve(event as Extract<IdentityEvent, { type: T }>);
      }
    });
  });
}

const pingsOf = (session: string, target: string): number => provider.seen.filter((seen) => seen.session === session && seen.target === target).length;

describe('Session.KeepAlive', () => {
  it('sends an idle session one request to the echo URL through its own route, which also checks its exit', async () => {
    const { ports: [port] } = await start();
    const pinged = nextEvent(proxy!, 'keep-alive');
    const seen = nextEvent(proxy!, 'exit-seen');
    const { session_id } = await apiJson<{ session_id: string }>(port!, '/session/');
    expect(await pinged).toMatchObject({ port, sessionId: session_id, ok: true });
    expect((await seen).ip).toBe(provider.addressOf(session_id));
    expect(pingsOf(session_id, `${echo.url}/ip`)).toBeGreaterThanOrEqual(1);
    expect(proxy!.app.events.counts.keepAlivePings).toBeGreaterThanOrEqual(1);
  });

  it('never has two requests in flight for one session, and stops once the session rotates', async () => {
    const { ports: [port] } = await start({ Identity: { EchoUrl: `${echo.url}/ip`, Timeout: '10s' } });
    const { session_id: first } = await apiJson<{ session_id: string }>(port!, '/session/');
    provider.decide = (seen) => (seen.target === `${echo.url}/ip` ? 'stall' : undefined);
    await provider.waitFor((seen) => seen.session === first && seen.target === `${echo.url}/ip`, 0);
    // Several intervals with the first one unanswered: no second one goes out.
    await delay(INTERVAL_MS * 4);
    expect(pingsOf(first, `${echo.url}/ip`)).toBe(1);
    const answered = nextEvent(proxy!, 'keep-alive', (event) => event.sessionId === first);
    provider.decide = undefined;
    provider.release();
    expect((await answered).ok).toBe(true);

    const { session_id: second } = await apiJson<{ session_id: string }>(port!, '/session/new');
    const before = pingsOf(first, `${echo.url}/ip`);
    // The new session's own keep-alive shows an interval has passed; the old one sent nothing.
    await nextEvent(proxy!, 'keep-alive', (event) => event.sessionId === second);
    await nextEvent(proxy!, 'keep-alive', (event) => event.sessionId === second);
    expect(pingsOf(first, `${echo.url}/ip`)).toBe(before);
  });

  it('stops once the session expires', async () => {
    const { ports: [port] } = await start({ Listen: { StickyProxyLifetime: '700ms' } });
    const { session_id } = await apiJson<{ session_id: string }>(port!, '/session/');
    await nextEvent(proxy!, 'keep-alive', (event) => event.sessionId === session_id);
    await eventually(() => proxy!.logs.some((line) => line.includes('"session expired"')), 'the session expired', 3_000);
    const after = pingsOf(session_id, `${echo.url}/ip`);
    await delay(INTERVAL_MS * 3);
    expect(pingsOf(session_id, `${echo.url}/ip`)).toBe(after);
  });

  it('leaves a session in use alone, and goes to Session.KeepAliveUrl when set (a long page is cut, not failed)', async () => {
    echo.answer = (_address, path) => (path === '/big' ? { status: 200, body: 'x'.repeat(512 * 1024) } : undefined);
    const { ports: [port] } = await start({ Session: { KeepAlive: `${INTERVAL_MS}ms`, KeepAliveUrl: `${echo.url}/big` } });
    const { session_id } = await apiJson<{ session_id: string }>(port!, '/session/');
    // Busy for several intervals: no keep-alive request meanwhile.
    for (const until = Date.now() + INTERVAL_MS * 3; Date.now() < until; ) {
      await request(port!, `${echo.url}/page`);
      await delay(20);
    }
    expect(pingsOf(session_id, `${echo.url}/big`)).toBe(0);
    const pinged = await nextEvent(proxy!, 'keep-alive', (event) => event.sessionId === session_id);
    expect(pinged.ok).toBe(true);
    expect(pingsOf(session_id, `${echo.url}/big`)).toBe(1);
    expect(pingsOf(session_id, `${echo.url}/ip`)).toBe(0);
    echo.answer = undefined;
  });
});
