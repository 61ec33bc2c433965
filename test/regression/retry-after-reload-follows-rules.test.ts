import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createApp, type App } from '../../src/app.js';
import { loadConfig, reloadLoader } from '../../src/config/load.js';
import { createLogger } from '../../src/logging/logger.js';
import { basic, request, type RequestOptions } from '../helpers/client.js';
import { freePortRange } from '../helpers/ports.js';
import { fineAnswer } from '../helpers/hostile-server.js';

// A GET whose upstream connection broke before any answer byte goes out once more. The retry
// took the route of the first try's host rule (or the session's main route) as it was: a reload
// in between that denied the host still let the retry out. The way out is now decided again by
// the rules running at the retry.

let held: net.Socket | undefined;
let heldNow: (() => void) | undefined;
const heads: string[] = [];
let upstream: net.Server;
let app: App;
let dir: string;
let port: number;

/** An upstream proxy that holds the first request for each `/hold-*` without an answer; every other one gets a 200. */
beforeAll(async () => {
  upstream = net.createServer((socket) => {
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      const head = chunk.toString('latin1');
      heads.push(head);
      const line = head.split('\r\n', 1)[0]!;
      if (/\/hold-/.test(line) && heads.filter((seen) => seen.startsWith(line)).length === 1) {
        held = socket;
        heldNow?.();
        return;
      }
      socket.write(fineAnswer(head.split(' ')[1] ?? ''));
    });
  });
  upstream.listen(0, '127.0.0.1');
  await once(upstream, 'listening');
  port = await freePortRange(1);
  dir = mkdtempSync(path.join(tmpdir(), 'stickyport-retry-reload-'));
  write({});
  const options = { cwd: dir, env: {} };
  const config = loadConfig(options);
  app = await createApp(config, { log: createLogger('silent'), loadConfig: reloadLoader(options) });
  await app.start();
});

afterAll(async () => {
  await app?.stop(100);
  held?.destroy();
  upstream?.close();
});

/** The upstream's URL with `template` as its user name. */
const upstreamUrl = (template = 'customer-acme-session-{session}'): string => `http://${template}:secret@127.0.0.1:${(upstream.address() as AddressInfo).port}`;

function write(settings: Record<string, unknown>): void {
  const listen = { Host: '127.0.0.1', PortRange: { Start: port, End: port }, AllowPrivateTargets: true };
  writeFileSync(path.join(dir, 'appsettings.json'), JSON.stringify({ Listen: listen, Upstream: { Url: upstreamUrl() }, SessionAPI: { Enabled: true }, ...settings }));
}

/** Sends a GET held at the upstream, applies `settings` by a reload (and `meanwhile`), then breaks the held connection: the client's answer. */
async function retriedAcrossReload(url: string, settings: Record<string, unknown>, options: RequestOptions = {}, meanwhile?: () => Promise<unknown>) {
  const isHeld = new Promise<void>((resolve) => (heldNow = resolve));
  const answer = request(port, url, options);
  await isHeld;
  write(settings);
  expect(await app.reload('test')).toMatchObject({ applied: true });
  await meanwhile?.();
  // The held connection breaks before any answer byte: the GET would go out again.
  held!.resetAndDestroy();
  return answer;
}

it('a Deny added by a reload between a GET\'s first try and its retry: the retry is not sent, the client gets 403', async () => {
  const before = heads.length;
  expect((await retriedAcrossReload('http://denied.test/hold-1', { HostRules: [{ Pattern: 'denied.test', Action: 'Deny' }] })).status).toBe(403);
  expect(heads.length).toBe(before + 1);
});

// A retry that would now Bypass the upstream (or now carry the session after a Bypass) does not
// follow: the first try was sent as one that carries the session (its answer names it), and the
// target is not asked twice by two ways.
it('a Bypass added by a reload between the tries: not sent again, 502 naming the reload; the target never asked directly', async () => {
  let direct = 0;
  const origin = net.createServer((socket) => {
    direct++;
    socket.destroy();
  });
  origin.listen(0, '127.0.0.1');
  await once(origin, 'listening');
  try {
    const target = `127.0.0.1:${(origin.address() as AddressInfo).port}`;
    const answer = await retriedAcrossReload(`http://${target}/hold-2`, { HostRules: [{ Pattern: '127.0.0.1', Action: 'Bypass' }] });
    expect(answer.status).toBe(502);
    expect(answer.body).toMatch(/not sent again: a reload changed where the host rules send/);
    expect(direct).toBe(0);
  } finally {
    origin.close();
  }
});

// The retry's login was read before the reload, with a parameter the reload no longer declares:
// compared by name, it rotated the port away from the session another client had just made.
it('a retry whose login names a parameter the reload dropped goes out on the port\'s session, without rotating it', async () => {
  const auth = { Required: true, Username: 'alice', Password: 'pw', ParseUsernameParameters: true };
  write({ Upstream: { Url: upstreamUrl('customer-acme-session-{session}-city-{city}'), Parameters: { city: '' } }, Authentication: auth });
  expect(await app.reload('test')).toMatchObject({ applied: true });
  const as = (user: string): RequestOptions => ({ headers: { 'proxy-authorization': basic(user, 'pw') } });
  expect((await request(port, 'http://example.test/warm', as('alice-city-berlin'))).status).toBe(200);
  let renewed = '';
  const answer = await retriedAcrossReload('http://example.test/hold-3', { Upstream: { Url: upstreamUrl() }, Authentication: auth }, as('alice-city-berlin'), async () => {
    renewed = (JSON.parse((await request(port, 'http://portmapper/session/new', as('alice'))).body) as { session_id: string }).session_id;
  });
  expect(answer.status).toBe(200);
  expect(heads.at(-1)).toMatch(/^GET http:\/\/example\.test\/hold-3 /);
  const login = Buffer.from(/proxy-authorization: Basic (\S+)/i.exec(heads.at(-1)!)![1]!, 'base64').toString();
  expect(login).toBe(`customer-acme-session-${renewed}:secret`);
  expect(app.ports.peek(port)!.session!.id).toBe(renewed);
});
