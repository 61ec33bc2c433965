import net from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startHttpTarget, type HttpTarget } from '../helpers/http-target.js';
import { startAddressEcho, startExitProvider, type AddressEcho, type ExitProvider } from '../helpers/exit-provider.js';
import { startStickyport } from '../helpers/stickyport.js';

// Stop while many answers wait: short ones leave the drain's list during the drain, long ones are
// still in it at its end, rule retries (a 429 first) re-enter it, session API ?ip=1 checks wait
// in it too. Each client gets its answer (200) or a 503 STOPPING, never a bare close.

let target: HttpTarget;
let targetPort: number;
const tried = new Set<string>();
let provider: ExitProvider;
let echo: AddressEcho;

beforeAll(async () => {
  target = await startHttpTarget((req, res) => {
    // /t/<id>/<delay>/<429 first?>
    const [, , id, delay, limited] = req.url!.split('/');
    const first = !tried.has(id!);
    tried.add(id!);
    if (limited === '1' && first) {
      setTimeout(() => res.writeHead(429).end('slow down'), 20).unref();
      return;
    }
    setTimeout(() => res.writeHead(200, { 'content-type': 'text/plain' }).end('ok'), Number(delay)).unref();
  });
  targetPort = target.port;
  [provider, echo] = await Promise.all([startExitProvider(), startAddressEcho()]);
});

afterAll(async () => {
  await target?.close();
  provider.release();
  await Promise.all([provider.close(), echo.close()]);
});

function ask(port: number, url: string, abortAfterMs?: number): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    const socket = net.connect(port, '127.0.0.1', () => socket.write(`GET ${url} HTTP/1.1\r\nHost: x\r\n\r\n`));
    if (abortAfterMs !== undefined) setTimeout(() => socket.destroy(), abortAfterMs).unref();
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(`TIMEOUT ${text}`);
    }, 10_000);
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
      if (text.includes('\r\n\r\n')) {
        clearTimeout(timer);
        socket.destroy();
        resolve(text);
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(text);
    });
  });
}

it('every waiting answer at a stop is its answer or a 503 STOPPING, whatever entered and left the list meanwhile', async () => {
  for (let round = 0; round < 3; round++) {
    const proxy = await startStickyport(
      {
        Upstream: { Url: `http://customer-acme-session-{session}:secret@127.0.0.1:${provider.port}` },
        Identity: { EchoUrl: `${echo.url}/ip`, Timeout: '30s' },
        Rotation: { Rules: [{ Name: 'limited', When: { Status: [429] }, Action: 'rotate-and-retry', Cooldown: 0 }] },
        Logging: { Level: 'warn' },
      },
      { portCount: 2 },
    );
    const ports = proxy.ports;
    provider.decide = (seen) => (seen.target.endsWith('/ip') ? 'stall' : undefined);
    const plan: Array<{ url: string; long: boolean; port: number; abort?: number }> = [];
    for (let i = 0; i < 150; i++) {
      const long = i % 3 === 0;
      const delay = long ? 8000 : 50 + ((i * 37) % 400);
      const limited = i % 4 === 0 ? 1 : 0;
      // Some clients give up while waiting: their entries leave the list by their close.
      const abort = i % 5 === 2 ? 30 + ((i * 53) % 600) : undefined;
      plan.push({ url: `http://127.0.0.1:${targetPort}/t/r${round}-${i}/${delay}/${limited}`, long, port: ports[i % 2]!, abort });
    }
    for (let i = 0; i < 12; i++) plan.push({ url: 'http://portmapper/session/?ip=1', long: true, port: ports[i % 2]!, abort: i % 3 === 0 ? 100 : undefined });
    const from = provider.seen.length;
    const answers = plan.map((p) => ask(p.port, p.url, p.abort));
    // What is not given up reached the provider (the ?ip=1 checks, the first tries) before the stop.
    const kept = plan.filter((p) => p.abort === undefined).length;
    const deadline = Date.now() + 5_000;
    while (provider.seen.length - from < kept && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(provider.seen.length - from).toBeGreaterThanOrEqual(kept);
    const stopped = proxy.app.stop(700);
    const heads = await Promise.all(answers);
    await stopped;
    provider.decide = undefined;
    provider.release();
    const got = heads.map((head, i) => {
      const status = head.slice(9, 12);
      const code = /x-stickyport-error: ([A-Z_]+)/i.exec(head)?.[1];
      return { i, long: plan[i]!.long, status, code };
    });
    const bad = got.filter((g) => plan[g.i]!.abort === undefined).filter((g) => (g.long ? !(g.status === '503' && g.code === 'STOPPING') : g.status !== '200'));
    expect(bad).toEqual([]);
    expect(proxy.logs.filter((line) => line.includes('BUG'))).toEqual([]);
  }
}, 60_000);
