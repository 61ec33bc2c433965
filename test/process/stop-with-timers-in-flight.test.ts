import path from 'node:path';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { request, type Answer } from '../helpers/client.js';
import { startAddressEcho, startExitProvider, type AddressEcho, type ExitProvider } from '../helpers/exit-provider.js';
import { freePort, freePortRange } from '../helpers/ports.js';
import { spawnStickyport, writeConfig, type SpawnedStickyport } from '../helpers/spawn-stickyport.js';

// node dist/main.js stopped (SIGTERM) or reloaded (SIGHUP, POST /api/reload) while the newer
// timers have work in flight against a provider that holds it: an identity check
// (/session/?ip=1), a keep-alive request, and the retry of a rotate-and-retry rule. A stop must
// end the process within its 2 s drain (plus slack), with exit code 0, answering each waiting
// client 503; nothing they started may keep the process alive. A reload
// must answer and leave every port serving.

const EXIT_WITHIN_MS = 6_000;

let provider: ExitProvider;
let echo: AddressEcho;
const running: SpawnedStickyport[] = [];

beforeAll(async () => {
  [provider, echo] = await Promise.all([startExitProvider(), startAddressEcho()]);
});
afterEach(async () => {
  provider.decide = undefined;
  echo.answer = undefined;
  provider.release();
  await Promise.all(running.splice(0).map((proc) => proc.stop('SIGKILL')));
});
afterAll(async () => {
  await Promise.all([provider.close(), echo.close()]);
});

async function spawnWithTimers(storeDir: string) {
  const [start, adminPort] = await Promise.all([freePortRange(3), freePort()]);
  const config = writeConfig({
    Listen: { Host: '127.0.0.1', PortRange: { Start: start, End: start + 2 }, StickyProxyLifetime: 10 },
    Upstream: { Url: `http://customer-acme-session-{session}:secret@127.0.0.1:${provider.port}` },
    SessionAPI: { Enabled: true, Domain: 'portmapper' },
    SessionStore: { Type: 'file', Path: path.join(storeDir, 'sessions.json') },
    Session: { KeepAlive: '1s', KeepAliveUrl: `${echo.url}/keep-alive` },
    Identity: { EchoUrl: `${echo.url}/ip`, Timeout: '30s' },
    Rotation: { Rules: [{ Name: 'banned', When: { Status: 429 }, Action: 'rotate-and-retry', Cooldown: 0 }] },
    Admin: { Enabled: true, Port: adminPort },
    Logging: { Level: 'debug' },
  });
  const proc = spawnStickyport(['--config', config]);
  running.push(proc);
  await proc.waitForLine(/stickyport listening/);
  return { proc, ports: [start, start + 1, start + 2] as const, adminPort };
}

/** An answer, or the connection's end without one ('closed'). */
const settle = (pending: Promise<Answer>): Promise<number | 'closed'> => pending.then((answer) => answer.status, () => 'closed' as const);

/** Puts one of each timer's requests in flight at the provider, held there; resolves once all three are held. */
async function holdAllThree(ports: readonly [number, number, number]) {
  const [checkPort, keepAlivePort, retryPort] = ports;
  // The session the retry port starts on gets 429 from the origin; its retry on a new session is held.
  let bannedSession: string | undefined;
  echo.answer = (_address, pathname) => (pathname === '/banned' ? { status: 429, body: 'slow down' } : undefined);
  provider.decide = (seen) => {
    if (seen.target.endsWith('/ip') || seen.target.endsWith('/keep-alive')) return 'stall';
    if (seen.target.endsWith('/banned')) {
      bannedSession ??= seen.session;
      return seen.session === bannedSession ? undefined : 'stall';
    }
    return undefined;
  };
  // Keep-alive: use the port once, then let it go idle until its ping is held.
  await request(keepAlivePort, `${echo.url}/warm`);
  const keepAliveHeld = provider.waitFor((seen) => seen.target.endsWith('/keep-alive'));
  const checkHeld = provider.waitFor((seen) => seen.target.endsWith('/ip'));
  const check = settle(request(checkPort, 'http://portmapper/session/?ip=1'));
  const retryHeld = provider.waitFor((seen) => seen.target.endsWith('/banned') && bannedSession !== undefined && seen.session !== bannedSession);
  const retry = settle(request(retryPort, `${echo.url}/banned`));
  await Promise.all([keepAliveHeld, checkHeld, retryHeld]);
  return { check, retry };
}

describe('stopping and reloading node dist/main.js with timers in flight', () => {
  it('SIGTERM while an identity check, a keep-alive request and a rule\'s retry are held: exits 0 within the drain, owing nothing', async () => {
    const { proc, ports } = await spawnWithTimers(mkdtempSync(path.join(tmpdir(), 'stickyport-timers-')));
    const { check, retry } = await holdAllThree(ports);
    const began = Date.now();
    proc.child.kill('SIGTERM');
    const code = await proc.exited;
    const took = Date.now() - began;
    expect(code).toBe(0);
    expect(took).toBeLessThan(EXIT_WITHIN_MS);
    // Both clients were owed an answer: a 503 STOPPING at the drain's end, not a bare close.
    expect(await retry).toBe(503);
    expect(await check).toBe(503);
    expect(proc.stdout.some((line) => line.includes('"msg":"stopped"'))).toBe(true);
    expect(proc.stdout.filter((line) => /BUG/.test(line))).toEqual([]);
  });

  it('SIGHUP and POST /api/reload racing each other while the three are held: every reload answers, every port keeps serving, then a stop is clean', async () => {
    const { proc, ports, adminPort } = await spawnWithTimers(mkdtempSync(path.join(tmpdir(), 'stickyport-timers-')));
    const { check, retry } = await holdAllThree(ports);
    const reloads: Array<Promise<Answer>> = [];
    for (let i = 0; i < 8; i++) {
      proc.child.kill('SIGHUP');
      reloads.push(request(adminPort, '/api/reload', { method: 'POST' }));
    }
    const answers = await Promise.all(reloads);
    expect(answers.map((answer) => answer.status)).toEqual(Array(8).fill(200));
    provider.decide = undefined;
    provider.release();
    expect([200, 429]).toContain(await retry);
    expect(await check).toBe(200);
    for (const port of ports) expect((await request(port, `${echo.url}/after`)).status).toBe(200);
    const began = Date.now();
    expect(await proc.stop('SIGTERM')).toBe(0);
    expect(Date.now() - began).toBeLessThan(EXIT_WITHIN_MS);
    expect(proc.stdout.filter((line) => /BUG/.test(line))).toEqual([]);
  });
});
