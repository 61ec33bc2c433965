import { mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type App } from '../../src/app.js';
import { loadConfig, reloadLoader } from '../../src/config/load.js';
import { createLogger } from '../../src/logging/logger.js';
import { adminClient, logged } from '../helpers/admin.js';
import { basic, openTunnel, request } from '../helpers/client.js';
import { startEchoServer } from '../helpers/echo-server.js';
import { eventually } from '../helpers/eventually.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { freePort, freePortRange } from '../helpers/ports.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { greeting, login as socksLogin, RawClient, request5 } from '../helpers/socks-client.js';
import { startSocksUpstream } from '../helpers/socks-upstream.js';
import { logSink, upstreamUrl } from '../helpers/stickyport.js';
import { startTcpGate } from '../helpers/tcp-gate.js';

// SIGHUP and POST /api/reload re-read the configuration through the same loader. Here the
// loader reads a folder's appsettings.json, which each test rewrites, then calls reload.

interface Reloadable {
  readonly app: App;
  readonly start: number;
  readonly logs: string[];
  write(settings: object): void;
}

let origin: Origin;
let echo: { port: number; close(): Promise<void> };
let upstreamA: RecordingUpstream;
let upstreamB: RecordingUpstream;
const running: App[] = [];

beforeAll(async () => {
  origin = await startOrigin();
  echo = await startEchoServer();
  upstreamA = await startRecordingUpstream('secret');
  upstreamB = await startRecordingUpstream('secret');
});

afterEach(async () => {
  await Promise.all(running.splice(0).map((app) => app.stop(100)));
});

afterAll(async () => {
  await Promise.all([origin?.close(), echo?.close(), upstreamA?.close(), upstreamB?.close()]);
});

/** Settings for ports start..end, on top of which each test sets what it changes. */
function settings(start: number, end: number, more: Record<string, Record<string, unknown>> = {}): object {
  return {
    ...more,
    Listen: { Host: '127.0.0.1', PortRange: { Start: start, End: end }, ...more.Listen },
    Upstream: { Url: upstreamUrl(upstreamA.port), ...more.Upstream },
    SessionAPI: { Enabled: true, ...more.SessionAPI },
    Logging: { Level: 'info', ...more.Logging },
  };
}

/** stickyport on `count` ports from `offset` in `reserved` free consecutive ports, reloadable from its folder. */
async function startReloadable(count: number, reserved: number, more: Record<string, Record<string, unknown>> = {}, offset = 0): Promise<Reloadable> {
  const start = (await freePortRange(reserved)) + offset;
  const dir = mkdtempSync(path.join(tmpdir(), 'stickyport-reload-'));
  const write = (value: object): void => writeFileSync(path.join(dir, 'appsettings.json'), JSON.stringify(value));
  write(settings(start, start + count - 1, more));
  const options = { cwd: dir, env: {} };
  const sink = logSink();
  const config = loadConfig(options);
  // The reload's loader as the command line makes it (the running sources and session id rule).
  const app = await createApp(config, { log: createLogger(config.logLevel, sink.stream), loadConfig: reloadLoader(options) });
  await app.start();
  running.push(app);
  return { app, start, logs: sink.lines, write };
}

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

/** An echo tunnel through `port`: resolves with a function that sends a line and reads it back. */
async function echoTunnel(port: number): Promise<{ socket: net.Socket; roundTrip(text: string): Promise<string> }> {
  const tunnel = await openTunnel(port, `127.0.0.1:${echo.port}`);
  expect(tunnel.status).toBe(200);
  const { socket } = tunnel;
  return {
    socket,
    roundTrip: (text) =>
      new Promise((resolve, reject) => {
        socket.once('data', (chunk: Buffer) => resolve(chunk.toString()));
        socket.once('close', () => reject(new Error('tunnel closed')));
        socket.write(text);
      }),
  };
}

const sessionOf = (app: App, port: number): string | undefined => app.ports.peek(port)?.session?.id;

describe('reload: start-up flags', () => {
  // s32 carried #14: started with --lifetime while one mapping took it, then the file edited so
  // that every mapping sets its own: the reload was refused ("it would change nothing"), and so
  // was every later one, until a restart without the flag. It is said on a reload, not refused.
  it('a flag the edited file makes redundant is said, and the reload applies', async () => {
    const start = await freePortRange(2);
    const dir = mkdtempSync(path.join(tmpdir(), 'stickyport-reload-flags-'));
    const write = (second: Record<string, unknown>): void =>
      writeFileSync(
        path.join(dir, 'appsettings.json'),
        JSON.stringify({
          ...settings(start, start + 1),
          Mappings: [
            { Name: 'a', Listen: { Port: start, StickyProxyLifetime: 5 } },
            { Name: 'b', Listen: { Port: start + 1, ...second } },
          ],
        }),
      );
    write({});
    const options = { cwd: dir, env: {}, flags: [{ name: 'lifetime', text: '10' }] };
    const sink = logSink();
    const config = loadConfig(options);
    const app = await createApp(config, { log: createLogger(config.logLevel, sink.stream), loadConfig: reloadLoader(options) });
    await app.start();
    running.push(app);
    write({ StickyProxyLifetime: 7 });
    const outcome = await app.reload('test');
    expect(outcome).toMatchObject({ applied: true, redundantFlags: [expect.stringMatching(/^Listen.StickyProxyLifetime \(flag --lifetime\) was given on the command line, but every one of Mappings sets its own lifetime/)] });
    expect(sink.lines.some((line) => line.includes('start-up flags that the files now make redundant'))).toBe(true);
    // And the next reload too.
    write({ StickyProxyLifetime: 8 });
    expect(await app.reload('test')).toMatchObject({ applied: true });
    // At start the same files are still refused: the operator can drop the flag there.
    expect(() => loadConfig(options)).toThrow(/every one of Mappings sets its own lifetime/);
  });
});

describe('reload: ports', () => {
  it('a widened range binds the new ports and leaves the others, their sessions and tunnels, alone', async () => {
    const proxy = await startReloadable(2, 4);
    const { start } = proxy;
    const tunnel = await echoTunnel(start);
    const id = sessionOf(proxy.app, start);
    expect(await refused(start + 2)).toBe(true);
    proxy.write(settings(start, start + 3));
    const outcome = await proxy.app.reload('test');
    expect(outcome).toEqual({ applied: true, changed: ['Listen.PortRange'], added: `${start + 2}-${start + 3}`, removed: '', restartNeeded: [] });
    expect((await request(start + 3, `${origin.url}/`)).status).toBe(200);
    expect(await tunnel.roundTrip('still here')).toBe('still here');
    expect(sessionOf(proxy.app, start)).toBe(id);
    expect(proxy.app.status().map((s) => s.port)).toEqual([start, start + 1, start + 2, start + 3]);
    expect(proxy.app.config.listen.portEnd).toBe(start + 3);
    expect(logged(proxy.logs, 'configuration reloaded')).toEqual([expect.objectContaining({ by: 'test', added: `${start + 2}-${start + 3}` })]);
    tunnel.socket.destroy();
  });

  it('a narrowed range closes the removed ports and their tunnels, and only those', async () => {
    const proxy = await startReloadable(4, 4);
    const { start } = proxy;
    const kept = await echoTunnel(start);
    const dropped = await echoTunnel(start + 3);
    const droppedClosed = new Promise((resolve) => dropped.socket.once('close', resolve));
    proxy.write(settings(start, start + 1));
    expect(await proxy.app.reload('test')).toMatchObject({ applied: true, added: '', removed: `${start + 2}-${start + 3}` });
    await droppedClosed;
    expect(await refused(start + 2)).toBe(true);
    expect(await refused(start + 3)).toBe(true);
    expect(await kept.roundTrip('kept')).toBe('kept');
    expect((await request(start + 1, `${origin.url}/`)).status).toBe(200);
    kept.socket.destroy();
  });

  it('refuses, changing nothing, when a new port cannot be bound', async () => {
    const proxy = await startReloadable(2, 4);
    const { start } = proxy;
    const squatter = net.createServer().listen(start + 3, '127.0.0.1');
    await new Promise((resolve) => squatter.once('listening', resolve));
    try {
      proxy.write(settings(start, start + 3));
      const outcome = await proxy.app.reload('test');
      expect(outcome).toMatchObject({ applied: false, code: 'LISTEN_FAILED' });
      expect(outcome.applied === false && outcome.message).toContain(`port ${start + 3} (EADDRINUSE) is in use by another program`);
      expect(await refused(start + 2)).toBe(true);
      expect(proxy.app.config.listen.portEnd).toBe(start + 1);
      expect((await request(start + 1, `${origin.url}/`)).status).toBe(200);
    } finally {
      squatter.close();
    }
  });

  it('refusing to move ports to an address that overlaps their own, it names stickyport as the holder, not "another program"', async () => {
    const login = { Authentication: { Required: true, Username: 'u', Password: 'p' } };
    const proxy = await startReloadable(2, 3, { ...login, Listen: { Host: '::ffff:127.0.0.1' } });
    const { start } = proxy;
    proxy.write(settings(start, start + 2, login));
    const outcome = await proxy.app.reload('test');
    expect(outcome).toMatchObject({ applied: false, code: 'LISTEN_FAILED' });
    const message = outcome.applied === false ? outcome.message : '';
    expect(message).toContain(`ports ${start}-${start + 1} (EADDRINUSE) are held by this stickyport's own listener on its old host`);
    expect(message).not.toContain('another program');
    expect(message).not.toContain('ss -ltnp');
  });

  it('refuses a range over the admin server\'s port, which moves only with a restart', async () => {
    // Admin.Port "auto": the port below the first, here start - 1.
    const proxy = await startReloadable(2, 3, { Admin: { Enabled: true } }, 1);
    const { start } = proxy;
    expect(proxy.app.admin!.address.port).toBe(start - 1);
    proxy.write(settings(start - 1, start + 1, { Admin: { Enabled: true, Port: start - 2 } }));
    const outcome = await proxy.app.reload('test');
    expect(outcome).toEqual({
      applied: false,
      code: 'CONFIG_INVALID',
      message: `Listen.PortRange ${start - 1}-${start + 1} includes port ${start - 1}, where the admin server listens: it moves only with a restart`,
    });
    expect(proxy.app.status().map((s) => s.port)).toEqual([start, start + 1]);
  });
});

describe('reload: sessions', () => {
  it('a new upstream applies to new sessions; a running session keeps its upstream until it rotates', async () => {
    const proxy = await startReloadable(2, 2);
    const { start } = proxy;
    await request(start, `${origin.url}/`);
    const first = upstreamA.seen.at(-1)!.session;
    proxy.write(settings(start, start + 1, { Upstream: { Url: upstreamUrl(upstreamB.port) } }));
    expect(await proxy.app.reload('test')).toMatchObject({ applied: true, changed: ['Upstream'] });
    const seenByB = upstreamB.seen.length;
    await request(start, `${origin.url}/`);
    expect(upstreamA.seen.at(-1)!.session).toBe(first);
    expect(upstreamB.seen.length).toBe(seenByB);
    await request(start + 1, `${origin.url}/`);
    expect(upstreamB.seen.length).toBe(seenByB + 1);
    await proxy.app.ports.get(start).reset();
    await request(start, `${origin.url}/`);
    expect(upstreamB.seen.at(-1)!.session).not.toBe(first);
    expect(upstreamB.seen.length).toBe(seenByB + 2);
  });

  // A reload compared upstreams by their masked description, so a change of the password alone
  // was "nothing changed" and every session went on with the old password until a restart; then
  // until each port's session ended (a provider's new password left every port failing for the
  // session's lifetime). A password is no part of the exit: running sessions take it at once.
  it.each([
    ['Upstream.Url', (port: number, password: string) => ({ Url: upstreamUrl(port, password) })],
    ['Upstream.Urls', (port: number, password: string) => ({ Url: undefined, Urls: [upstreamUrl(port, password)] })],
    ['Upstream.Password of a preset', (port: number, password: string) => ({ Url: undefined, Preset: 'iproyal', Username: 'account', Password: password, Host: '127.0.0.1', Port: port })],
  ] as const)('a new password alone (%s) applies at once, to the running session (same id) too', async (_written, upstream) => {
    const anyPassword = await startRecordingUpstream(() => true);
    try {
      const proxy = await startReloadable(1, 1, { Upstream: upstream(anyPassword.port, 'OldPw111') });
      const port = proxy.start;
      await request(port, `${origin.url}/`);
      expect(anyPassword.seen.at(-1)!.password).toMatch(/^OldPw111/);
      // The exit: the login without the password's own part (a preset may render the session into the password).
      const exit = (seen: { username: string; password: string }) => `${seen.username}:${seen.password.replace(/^(OldPw111|NewPw222)/, '')}`;
      const before = exit(anyPassword.seen.at(-1)!);
      const tunnel = await openTunnel(port, `127.0.0.1:${echo.port}`);
      expect(tunnel.status).toBe(200);
      proxy.write(settings(port, port, { Upstream: upstream(anyPassword.port, 'NewPw222') }));
      const outcome = await proxy.app.reload('test');
      expect(outcome).toMatchObject({ applied: true, changed: ['Upstream'] });
      // Nothing in the outcome or the log names either password.
      expect(JSON.stringify(outcome) + proxy.logs.join('')).not.toMatch(/OldPw111|NewPw222/);
      await request(port, `${origin.url}/`);
      expect(anyPassword.seen.at(-1)!.password).toMatch(/^NewPw222/);
      expect(exit(anyPassword.seen.at(-1)!)).toBe(before);
      // A tunnel open before keeps its connection (its login was checked when it opened).
      expect(tunnel.socket.destroyed).toBe(false);
      tunnel.socket.destroy();
      await proxy.app.ports.get(port).reset();
      await request(port, `${origin.url}/`);
      expect(anyPassword.seen.at(-1)!.password).toMatch(/^NewPw222/);
      expect(exit(anyPassword.seen.at(-1)!)).not.toBe(before);
    } finally {
      await anyPassword.close();
    }
  });

  it('new passwords in a pool: each running session stays on its member, with its id, and takes its member\'s new password', async () => {
    const [x, y] = [await startRecordingUpstream(() => true), await startRecordingUpstream(() => true)];
    try {
      const pool = (password: string) => ({ Url: undefined, Urls: [upstreamUrl(x.port, `${password}x`), upstreamUrl(y.port, `${password}y`)] });
      const proxy = await startReloadable(4, 4, { Upstream: pool('OldPw') });
      const ports = [0, 1, 2, 3].map((i) => proxy.start + i);
      const where = async (port: number) => {
        await request(port, `${origin.url}/`);
        const seen = [x, y].map((upstream) => upstream.seen.at(-1)).filter((entry) => entry !== undefined).sort((a, b) => b.at - a.at)[0]!;
        return { member: x.seen.includes(seen) ? 'x' : 'y', session: seen.session, password: seen.password };
      };
      const before = [];
      for (const port of ports) before.push(await where(port));
      // The pool spread the four sessions over both members.
      expect(new Set(before.map((seen) => seen.member)).size).toBe(2);
      proxy.write(settings(proxy.start, proxy.start + 3, { Upstream: pool('NewPw') }));
      expect(await proxy.app.reload('test')).toMatchObject({ applied: true, changed: ['Upstream'] });
      for (const [i, port] of ports.entries()) {
        expect(await where(port)).toEqual({ ...before[i]!, password: `NewPw${before[i]!.member}` });
      }
      // The new pool counts the sessions it took over: a port of y's made anew goes back to y,
      // which now has one session fewer than x (with none counted, ties go to the first, x).
      const ofY = ports[before.findIndex((seen) => seen.member === 'y')]!;
      await proxy.app.ports.get(ofY).reset();
      expect((await where(ofY)).member).toBe('y');
    } finally {
      await Promise.all([x.close(), y.close()]);
    }
  });

  // A session made after the reload (/session/new keeps the parameters the session had) kept a
  // parameter the reload no longer declares: /session/ reported a city its exit did not have,
  // and a login asking for what was rendered counted as other parameters and rotated the port.
  it('a parameter a reload no longer declares does not follow the session into the next one', async () => {
    const any = await startRecordingUpstream(() => true);
    try {
      const url = (template: string) => `http://${template}:pw@127.0.0.1:${any.port}`;
      const auth = { Required: true, Username: 'alice', Password: 'pw1', ParseUsernameParameters: true };
      const withCity = { Upstream: { Url: url('customer-acme-session-{session}-country-{country}-city-{city}'), Parameters: { country: 'us', city: '' } }, Authentication: auth };
      const noCity = { Upstream: { Url: url('customer-acme-session-{session}-country-{country}'), Parameters: { country: 'us' } }, Authentication: auth };
      const proxy = await startReloadable(1, 1, withCity as never);
      const port = proxy.start;
      const as = (user: string) => ({ headers: { 'proxy-authorization': basic(user, 'pw1') } });
      expect((await request(port, `${origin.url}/`, as('alice-city-berlin'))).status).toBe(200);
      expect(any.seen.at(-1)!.username).toMatch(/-city-berlin$/);
      proxy.write(settings(port, port, noCity as never));
      expect(await proxy.app.reload('test')).toMatchObject({ applied: true });
      const renewed = JSON.parse((await request(port, 'http://portmapper/session/new', as('alice'))).body) as { session_id: string; parameters: Record<string, string> };
      expect(renewed.parameters).toEqual({ country: 'us' });
      expect((await request(port, `${origin.url}/`, as('alice-country-us'))).status).toBe(200);
      expect(any.seen.at(-1)!).toMatchObject({ session: renewed.session_id, username: expect.stringMatching(/-country-us$/) });
    } finally {
      await any.close();
    }
  });

  // Every replaced mapping was kept until shutdown: about 3.5 KB per reload that changed one.
  it('keeps no replaced settings that no port uses: 30 reloads leave at most what the running sessions were made by', async () => {
    const proxy = await startReloadable(2, 2);
    const { start } = proxy;
    await request(start, `${origin.url}/`);
    const replaced = () => (proxy.app.ports as unknown as { replaced: unknown[] }).replaced.length;
    for (let i = 0; i < 30; i++) {
      // The upstream alternates between A and B: the running session keeps the one it was made by.
      proxy.write(settings(start, start + 1, { Upstream: { Url: upstreamUrl((i % 2 === 0 ? upstreamB : upstreamA).port) }, Listen: { StickyProxyLifetime: `${20 + i}m` } }));
      expect(await proxy.app.reload('test')).toMatchObject({ applied: true });
    }
    // The session of the port that served a request was made by the first settings; nothing else is held.
    expect(replaced()).toBe(1);
    await request(start, `${origin.url}/`);
    expect(upstreamA.seen.at(-1)!.target).toContain(String(origin.port));
  });

  // A tunnel whose upstream connection was still in its SOCKS handshake when a reload gave the
  // upstream a new password sent the old one once the handshake went on: the route was closed,
  // but the session was still the port's, which was all the guard asked.
  it('a new password applies to a tunnel still in its upstream handshake: it goes out with the new one', async () => {
    const socks = await startSocksUpstream('NewPw222');
    const gate = await startTcpGate(socks.port);
    try {
      const url = (password: string) => ({ Url: `socks5://customer-acme-session-{session}:${password}@127.0.0.1:${gate.port}` });
      const proxy = await startReloadable(1, 1, { Upstream: url('OldPw111') });
      const port = proxy.start;
      const session = (await request(port, 'http://portmapper/session/')).headers['x-session-id'];
      gate.hold();
      const tunnel = openTunnel(port, `127.0.0.1:${echo.port}`);
      await gate.arrived();
      proxy.write(settings(port, port, { Upstream: url('NewPw222') }));
      expect(await proxy.app.reload('test')).toMatchObject({ applied: true, changed: ['Upstream'] });
      gate.release();
      const opened = await tunnel;
      expect(opened.status).toBe(200);
      opened.socket.destroy();
      expect(socks.usernames).toEqual([`customer-acme-session-${session}`]);
    } finally {
      await gate.close();
      await socks.close();
    }
  });

  // A password holding a placeholder carries routing fields (the iproyal way): a change there
  // moves the exit, so it waits for the session to end like any other change of the upstream.
  it('a new password that holds a placeholder is no password-only change: the running session keeps its exit', async () => {
    const any = await startRecordingUpstream(() => true);
    try {
      const url = (country: string) => ({ Url: `http://account:secret_country-${country}_session-{session}@127.0.0.1:${any.port}` });
      const proxy = await startReloadable(1, 1, { Upstream: url('us') });
      const port = proxy.start;
      await request(port, `${origin.url}/`);
      expect(any.seen.at(-1)!.password).toMatch(/^secret_country-us_session-/);
      proxy.write(settings(port, port, { Upstream: url('de') }));
      expect(await proxy.app.reload('test')).toMatchObject({ applied: true, changed: ['Upstream'] });
      await request(port, `${origin.url}/`);
      expect(any.seen.at(-1)!.password).toMatch(/^secret_country-us_session-/);
      await proxy.app.ports.get(port).reset();
      await request(port, `${origin.url}/`);
      expect(any.seen.at(-1)!.password).toMatch(/^secret_country-de_session-/);
    } finally {
      await any.close();
    }
  });

  // A session running on settings from before a reload that changed its exit kept sending the
  // password of those settings until it ended, even after a later reload changed only the
  // password (the provider's new one): once the provider refused the old one, the port failed
  // every request and tunnel, for good with lifetime 0. Such a password-only change now reaches
  // it too, where it sends the password replaced, on the same gateway. A reload that changes the
  // exit and the password at once may be another account: the session keeps its own.
  describe('a new password for a session still on settings from before an exit change', () => {
    const user = (prefix: string, port: number, password: string) => ({ Url: `http://${prefix}-session-{session}:${password}@127.0.0.1:${port}` });
    it.each([
      ['exit, then password', 'NewPw', [['cust2', 'OldPw'], ['cust2', 'NewPw']]],
      ['exit and password at once (another account, maybe)', 'OldPw', [['cust2', 'NewPw']]],
      ['exit, password, then exit and password', 'MidPw', [['cust2', 'OldPw'], ['cust2', 'MidPw'], ['cust3', 'NewPw']]],
      ['exit, password, password', 'NewPw', [['cust2', 'OldPw'], ['cust2', 'MidPw'], ['cust2', 'NewPw']]],
    ] as const)('%s: the running session keeps its exit and sends %s', async (_case, expected, reloads) => {
      const any = await startRecordingUpstream(() => true);
      try {
        const proxy = await startReloadable(2, 2, { Upstream: user('cust', any.port, 'OldPw') });
        const port = proxy.start;
        await request(port, `${origin.url}/`);
        const first = any.seen.at(-1)!;
        expect(first).toMatchObject({ username: expect.stringMatching(/^cust-session-/), password: 'OldPw' });
        for (const [prefix, password] of reloads) {
          proxy.write(settings(port, port + 1, { Upstream: user(prefix, any.port, password) }));
          expect(await proxy.app.reload('test')).toMatchObject({ applied: true });
        }
        // Plain HTTP and a tunnel: the old exit (user name, session).
        await request(port, `${origin.url}/`);
        expect(any.seen.at(-1)).toMatchObject({ username: first.username, password: expected });
        const tunnel = await openTunnel(port, `127.0.0.1:${echo.port}`);
        expect(tunnel.status).toBe(200);
        tunnel.socket.destroy();
        expect(any.seen.at(-1)).toMatchObject({ username: first.username, password: expected });
        // A port without a session yet, and this one once its session ends: the newest settings whole.
        const [prefix, newest] = reloads.at(-1)!;
        await request(port + 1, `${origin.url}/`);
        expect(any.seen.at(-1)).toMatchObject({ username: expect.stringMatching(new RegExp(`^${prefix}-session-`)), password: newest });
        await proxy.app.ports.get(port).reset();
        await request(port, `${origin.url}/`);
        expect(any.seen.at(-1)).toMatchObject({ username: expect.stringMatching(new RegExp(`^${prefix}-session-`)), password: newest });
        expect(any.seen.at(-1)!.session).not.toBe(first.session);
        expect(proxy.logs.join('')).not.toMatch(/OldPw|MidPw|NewPw/);
      } finally {
        await any.close();
      }
    });

    it('a password that carries a field keeps it: only a plain password is replaced', async () => {
      const any = await startRecordingUpstream(() => true);
      try {
        const url = (userInfo: string) => ({ Url: `http://${userInfo}@127.0.0.1:${any.port}`, Parameters: { country: 'us' } });
        const proxy = await startReloadable(1, 1, { Upstream: url('cust-session-{session}:PwA_country-{country}') });
        const port = proxy.start;
        await request(port, `${origin.url}/`);
        const first = any.seen.at(-1)!;
        expect(first.password).toBe('PwA_country-us');
        for (const userInfo of ['cust2-country-{country}-session-{session}:PwA', 'cust2-country-{country}-session-{session}:PwB']) {
          proxy.write(settings(port, port, { Upstream: url(userInfo) }));
          expect(await proxy.app.reload('test')).toMatchObject({ applied: true });
        }
        await request(port, `${origin.url}/`);
        expect(any.seen.at(-1)).toMatchObject({ username: first.username, password: 'PwA_country-us' });
      } finally {
        await any.close();
      }
    });

    it('bypassed hosts still go out directly after further reloads (the settings it came from stay in use)', async () => {
      const any = await startRecordingUpstream(() => true);
      try {
        const rules = { HostRules: [{ Pattern: 'cdn.test', Action: 'Bypass', OverrideHost: '127.0.0.1' }] } as unknown as Record<string, Record<string, unknown>>;
        const proxy = await startReloadable(1, 1, { ...rules, Upstream: user('cust', any.port, 'OldPw') });
        const port = proxy.start;
        await request(port, `${origin.url}/`);
        expect((await request(port, `http://cdn.test:${origin.port}/`)).status).toBe(200);
        // Exit, password (the running session takes it), exit: the settings it came from are replaced twice.
        for (const [prefix, password] of [['cust2', 'OldPw'], ['cust2', 'NewPw'], ['cust3', 'NewPw']]) {
          proxy.write(settings(port, port, { ...rules, Upstream: user(prefix!, any.port, password!) }));
          expect(await proxy.app.reload('test')).toMatchObject({ applied: true });
        }
        await request(port, `${origin.url}/`);
        expect(any.seen.at(-1)!.password).toBe('NewPw');
        const seen = any.seen.length;
        const answer = await request(port, `http://cdn.test:${origin.port}/`);
        expect(answer.status).toBe(200);
        expect(any.seen).toHaveLength(seen);
      } finally {
        await any.close();
      }
    });

    // s33 second pass G3: a port that a reload moved to another mapping keeps its session on the
    // settings of the mapping it left; a later password-only change of that mapping did not
    // reach it (it looked at the settings of the port's new mapping).
    it('a port moved to another mapping: its session takes the password-only change of the mapping it was made by', async () => {
      const any = await startRecordingUpstream(() => true);
      try {
        const mappings = (aEnd: number, aPassword: string, start: number) => ({
          Mappings: [
            { Name: 'a', Listen: { PortRange: { Start: start, End: aEnd } }, Upstream: user('a', any.port, aPassword) },
            { Name: 'b', Listen: { PortRange: { Start: aEnd + 1, End: start + 3 } }, Upstream: user('b', any.port, 'PwB') },
          ],
        }) as unknown as Record<string, Record<string, unknown>>;
        const proxy = await startReloadable(4, 4, { Upstream: user('x', any.port, 'PwX') });
        const moving = proxy.start + 1;
        proxy.write(settings(proxy.start, proxy.start + 3, { ...mappings(proxy.start + 1, 'PwA', proxy.start), Upstream: user('x', any.port, 'PwX') }));
        expect(await proxy.app.reload('test')).toMatchObject({ applied: true });
        await proxy.app.ports.get(moving).reset();
        await request(moving, `${origin.url}/`);
        const first = any.seen.at(-1)!;
        expect(first).toMatchObject({ username: expect.stringMatching(/^a-session-/), password: 'PwA' });
        // The port moves to b; its session stays on a's settings.
        proxy.write(settings(proxy.start, proxy.start + 3, { ...mappings(proxy.start, 'PwA', proxy.start), Upstream: user('x', any.port, 'PwX') }));
        expect(await proxy.app.reload('test')).toMatchObject({ applied: true });
        await request(moving, `${origin.url}/`);
        expect(any.seen.at(-1)).toMatchObject({ username: first.username, password: 'PwA' });
        // a's password changes, nothing else: the session made by a takes it.
        proxy.write(settings(proxy.start, proxy.start + 3, { ...mappings(proxy.start, 'PwA2', proxy.start), Upstream: user('x', any.port, 'PwX') }));
        expect(await proxy.app.reload('test')).toMatchObject({ applied: true });
        await request(moving, `${origin.url}/`);
        expect(any.seen.at(-1)).toMatchObject({ username: first.username, password: 'PwA2' });
        // Once it ends, the port takes b's settings whole.
        await proxy.app.ports.get(moving).reset();
        await request(moving, `${origin.url}/`);
        expect(any.seen.at(-1)).toMatchObject({ username: expect.stringMatching(/^b-session-/), password: 'PwB' });
      } finally {
        await any.close();
      }
    });

    it('a session whose gateway is gone from the settings keeps its own password there', async () => {
      const [gone, next] = [await startRecordingUpstream(() => true), await startRecordingUpstream(() => true)];
      try {
        const proxy = await startReloadable(1, 1, { Upstream: user('cust', gone.port, 'OldPw') });
        const port = proxy.start;
        await request(port, `${origin.url}/`);
        const first = gone.seen.at(-1)!;
        // Another gateway, then a new password there: it is that gateway's, not the old one's.
        for (const password of ['OldPw', 'NewPw']) {
          proxy.write(settings(port, port, { Upstream: user('cust', next.port, password) }));
          expect(await proxy.app.reload('test')).toMatchObject({ applied: true });
        }
        await request(port, `${origin.url}/`);
        expect(gone.seen.at(-1)).toMatchObject({ username: first.username, password: 'OldPw' });
        expect(next.seen).toHaveLength(0);
      } finally {
        await Promise.all([gone.close(), next.close()]);
      }
    });
  });

  // A plain /session/new (or any rotation) carries the session's parameters over. After a reload
  // that lengthened a SOCKS5 login, they could no longer fit its 255 bytes: the session was made
  // (200) and every tunnel on it failed (502), while the same value asked for anew got its 400
  // (adversarial pass s33 a16). The new session is made without them, and the log says why.
  it('a rotation after a reload that makes the carried parameters too long for a SOCKS5 login leaves them out', async () => {
    const socks = await startSocksUpstream('pw');
    try {
      const url = (prefix: string) => ({ Url: `socks5h://${prefix}-{session}-c-{country}:pw@127.0.0.1:${socks.port}`, Parameters: { country: '' } });
      const proxy = await startReloadable(1, 1, { Upstream: url('u'), Authentication: { ParseUsernameParameters: true } });
      const port = proxy.start;
      const value = 'v'.repeat(60);
      expect((await request(port, `http://portmapper/session/new?country=${value}`)).status).toBe(200);
      const tunnel = await openTunnel(port, `127.0.0.1:${echo.port}`);
      expect(tunnel.status).toBe(200);
      tunnel.socket.destroy();
      expect(socks.usernames.at(-1)).toMatch(new RegExp(`-c-${value}$`));
      proxy.write(settings(port, port, { Upstream: url('u'.repeat(190)), Authentication: { ParseUsernameParameters: true } }));
      expect(await proxy.app.reload('test')).toMatchObject({ applied: true });
      // Asked for anew, the value is refused; carried over, it is left out.
      expect((await request(port, `http://portmapper/session/new?country=${value}`)).status).toBe(400);
      const renewed = await request(port, 'http://portmapper/session/new');
      expect(renewed.status).toBe(200);
      expect(renewed.body).not.toContain(value);
      const after = await openTunnel(port, `127.0.0.1:${echo.port}`);
      expect(after.status).toBe(200);
      after.socket.destroy();
      expect(socks.usernames.at(-1)!.startsWith(`${'u'.repeat(190)}-`)).toBe(true);
      expect(socks.usernames.at(-1)).not.toContain(value);
      expect(proxy.logs.join('\n')).toMatch(/a new session leaves out the parameters of the one before it: the SOCKS5 user name would be \d+ bytes long/);
    } finally {
      await socks.close();
    }
  });

  it('a new lifetime applies to sessions created from then on', async () => {
    const proxy = await startReloadable(1, 1);
    const port = proxy.start;
    await request(port, `${origin.url}/`);
    const before = proxy.app.ports.peek(port)!.session!;
    proxy.write(settings(port, port, { Listen: { StickyProxyLifetime: '2h' } }));
    expect(await proxy.app.reload('test')).toMatchObject({ applied: true, changed: ['Listen.StickyProxyLifetime'] });
    expect(proxy.app.ports.peek(port)!.session).toBe(before);
    expect(before.expiresAt! - before.createdAt).toBe(10 * 60_000);
    const renewed = await proxy.app.ports.get(port).renew();
    expect(renewed.expiresAt! - renewed.createdAt).toBe(2 * 3_600_000);
  });

  // A session that has expired, with its expiry timer not yet run (a request came first, under
  // steady traffic): the request made the next session from the settings before the reload
  // (their lifetime, their pool member), and routed it by the new ones.
  it('a session expired before its timer ran is replaced by one made from the reload\'s settings', async () => {
    const proxy = await startReloadable(1, 1, { Listen: { StickyProxyLifetime: '1s' } });
    const port = proxy.start;
    await request(port, `${origin.url}/`);
    const before = proxy.app.ports.peek(port)!.session!;
    proxy.write(settings(port, port, { Listen: { StickyProxyLifetime: '2h' }, Upstream: { Url: upstreamUrl(upstreamB.port) } }));
    expect(await proxy.app.reload('test')).toMatchObject({ applied: true });
    // Past the expiry with the event loop held: the expiry timer cannot run before the port is asked.
    const until = before.expiresAt! + 20;
    while (Date.now() < until);
    const taken = await proxy.app.ports.get(port).take();
    expect(taken.session.id).not.toBe(before.id);
    expect(taken.session.expiresAt! - taken.session.createdAt).toBe(2 * 3_600_000);
    const seenB = upstreamB.seen.length;
    expect((await request(port, `${origin.url}/after-expiry`)).status).toBe(200);
    expect(upstreamB.seen.slice(seenB).map((seen) => seen.session)).toEqual([taken.session.id]);
  });
});

// What judges a request (the client login, host rules, RejectHttpProxy) is applied at once: a
// password changed because it leaked must stop working on the reload, not when each port's
// session next ends. It was so for SOCKS clients and the session API, while plain HTTP, CONNECT
// and WebSockets kept the old login (and rules) until the port rotated. The session and its
// upstream stay: those are the port's identity.
describe('reload: what judges requests applies at once, the session stays', () => {
  const login = (password: string) => ({ Authentication: { Required: true, Username: 'client', Password: password } });
  const auth = (password: string) => ({ 'proxy-authorization': basic('client', password) });

  it('a new client password: the old one gets 407 at once on plain HTTP, CONNECT and the session API; the new one goes out on the same session', async () => {
    const proxy = await startReloadable(1, 1, login('OldClient1'));
    const port = proxy.start;
    expect((await request(port, `${origin.url}/`, { headers: auth('OldClient1') })).status).toBe(200);
    const session = upstreamA.seen.at(-1)!.session;
    proxy.write(settings(port, port, login('NewClient2')));
    expect(await proxy.app.reload('test')).toMatchObject({ applied: true, changed: ['Authentication'] });
    expect((await request(port, `${origin.url}/`, { headers: auth('OldClient1') })).status).toBe(407);
    expect((await openTunnel(port, `127.0.0.1:${echo.port}`, auth('OldClient1'))).status).toBe(407);
    expect((await request(port, 'http://portmapper/session/', { headers: auth('OldClient1') })).status).toBe(407);
    const seen = upstreamA.seen.length;
    expect((await request(port, `${origin.url}/`, { headers: auth('NewClient2') })).status).toBe(200);
    expect(upstreamA.seen.length).toBe(seen + 1);
    expect(upstreamA.seen.at(-1)!.session).toBe(session);
  });

  // A SOCKS5 client checked at its greeting and sending its request after the reload: the
  // request is judged by the login now (0x02, connection not allowed), as an HTTP one is.
  it.each([
    ['a password changed', login('OldClient1'), login('NewClient2'), { username: 'client', password: 'OldClient1' }],
    ['a login turned on', {}, login('NewClient2'), undefined],
  ] as const)('SOCKS5, %s between the greeting and the request: refused, nothing sent', async (_what, before, after, credentials) => {
    const proxy = await startReloadable(1, 1, before as never);
    const port = proxy.start;
    const client = await RawClient.connect(port);
    client.send(credentials ? greeting(2) : greeting(0));
    expect((await client.read(2))[1]).toBe(credentials ? 2 : 0);
    if (credentials) {
      client.send(socksLogin(credentials.username, credentials.password));
      expect((await client.read(2))[1]).toBe(0);
    }
    proxy.write(settings(port, port, after));
    expect(await proxy.app.reload('test')).toMatchObject({ applied: true, changed: ['Authentication'] });
    const seen = upstreamA.seen.length;
    client.send(request5({ host: '127.0.0.1', port: echo.port }));
    expect((await client.read(10))[1]).toBe(0x02);
    expect(upstreamA.seen.length).toBe(seen);
    client.socket.destroy();
  });

  it('a Deny rule added refuses its host at once; other hosts go out on the same session', async () => {
    const proxy = await startReloadable(1, 1);
    const port = proxy.start;
    expect((await request(port, `${origin.url}/`)).status).toBe(200);
    const session = upstreamA.seen.at(-1)!.session;
    proxy.write(settings(port, port, { HostRules: [{ Pattern: 'denied.test', Action: 'Deny' }] } as never));
    expect(await proxy.app.reload('test')).toMatchObject({ applied: true, changed: ['HostRules'] });
    expect((await request(port, 'http://denied.test/')).status).toBe(403);
    expect((await openTunnel(port, 'denied.test:443')).status).toBe(403);
    expect((await request(port, `${origin.url}/`)).status).toBe(200);
    expect(upstreamA.seen.at(-1)!.session).toBe(session);
  });

  it('a host rule\'s own upstream changed: the next request goes to the new one, and the old rule route\'s connection closes', async () => {
    // Idle connections would close after PoolIdleTimeout anyway: long here, so that only the drop closes it.
    const rules = (port: number) => ({ HostRules: [{ Pattern: '127.0.0.1', Upstream: { Url: upstreamUrl(port) } }], Upstream: { PoolIdleTimeout: '60s' } });
    const proxy = await startReloadable(1, 1, rules(upstreamB.port) as never);
    const port = proxy.start;
    const seenByA = upstreamA.seen.length;
    expect((await request(port, `${origin.url}/`)).status).toBe(200);
    expect(upstreamB.seen.at(-1)!.target).toContain(origin.url.replace('http://', ''));
    await eventually(() => upstreamB.openConnections() === 1, 'the rule route keeps its connection');
    proxy.write(settings(port, port, rules(upstreamA.port) as never));
    expect(await proxy.app.reload('test')).toMatchObject({ applied: true, changed: ['HostRules'] });
    await eventually(() => upstreamB.openConnections() === 0, 'the old rule route closed its idle connection');
    expect((await request(port, `${origin.url}/`)).status).toBe(200);
    expect(upstreamA.seen.length).toBe(seenByA + 1);
  });

  it('RejectHttpProxy turned on refuses plain HTTP at once; tunnels go out on the same session', async () => {
    const proxy = await startReloadable(1, 1);
    const port = proxy.start;
    expect((await request(port, `${origin.url}/`)).status).toBe(200);
    const session = sessionOf(proxy.app, port);
    proxy.write(settings(port, port, { Listen: { RejectHttpProxy: true } }));
    expect(await proxy.app.reload('test')).toMatchObject({ applied: true, changed: ['Listen.RejectHttpProxy'] });
    expect((await request(port, `${origin.url}/`)).status).toBe(403);
    const tunnel = await echoTunnel(port);
    expect(await tunnel.roundTrip('ping')).toBe('ping');
    tunnel.socket.destroy();
    expect(sessionOf(proxy.app, port)).toBe(session);
  });
});

describe('reload: rotation rules', () => {
  it('applies new rules (at once), telling apart rules that differ only in a ConnectStatus failure or a header value', async () => {
    const proxy = await startReloadable(1, 1);
    const port = proxy.start;
    const rules = (connect: string, value: string) => ({ Rotation: { Rules: [{ Name: 'overloaded', When: { Status: 503 } }, { When: { ConnectStatus: connect } }, { When: { Header: { Name: 'x-ban', Value: value } } }] } });
    proxy.write(settings(port, port, rules('refused', 'yes')));
    expect(await proxy.app.reload('test')).toMatchObject({ applied: true, changed: ['Rotation.Rules'], restartNeeded: [] });
    for (const [connect, value] of [['timeout', 'yes'], ['timeout', '/no/']]) {
      proxy.write(settings(port, port, rules(connect!, value!)));
      expect(await proxy.app.reload('test')).toMatchObject({ applied: true, changed: ['Rotation.Rules'] });
    }
    proxy.write(settings(port, port, rules('timeout', '/no/')));
    expect(await proxy.app.reload('test')).toMatchObject({ applied: true, changed: [] });
    // The port had no session yet: its first one is made under the new rules.
    const first = (await request(port, 'http://portmapper/session/')).headers['x-session-id'];
    upstreamA.mode = '503';
    try {
      const rotated = new Promise((resolve) => proxy.app.events.on((event) => event.type === 'rule-rotation' && resolve(event)));
      expect((await request(port, `${origin.url}/`)).status).toBe(503);
      expect(await rotated).toMatchObject({ port, rule: 'overloaded', previousId: first });
    } finally {
      upstreamA.mode = 'ok';
    }
    expect(sessionOf(proxy.app, port)).not.toBe(first);
  });

  it('names Identity, Session.KeepAlive and Rotation.BodyScanKiB as waiting for a restart', async () => {
    const proxy = await startReloadable(1, 1);
    const port = proxy.start;
    proxy.write(settings(port, port, { Identity: { EchoUrl: 'http://127.0.0.1:9/ip' }, Session: { KeepAlive: '30s' }, Rotation: { BodyScanKiB: 64 } }));
    const outcome = await proxy.app.reload('test');
    expect(outcome).toMatchObject({ applied: true, restartNeeded: ['Identity', 'Session.KeepAlive', 'Rotation.BodyScanKiB'] });
    expect(proxy.app.config.identity.echoUrl).toBe('');
    expect(proxy.app.config.rotation.bodyScanBytes).toBe(16 * 1024);
  });
});

describe('reload: refusals and what waits for a restart', () => {
  it('refuses a configuration that does not validate, with the message start-up gives, and the running one stays', async () => {
    const proxy = await startReloadable(2, 2);
    const { start } = proxy;
    const bad = settings(start, start + 1, { Listen: { StickyProxyLifetime: 'forever' }, Upstream: { Url: 'ftp://user:topsecret@host:21' } });
    proxy.write(bad);
    let startupMessage = '';
    try {
      loadConfig({ cwd: path.dirname(proxy.app.config.sources[1]!), env: {} });
    } catch (error) {
      startupMessage = (error as Error).message;
    }
    expect(startupMessage).toContain('Listen.StickyProxyLifetime');
    const outcome = await proxy.app.reload('test');
    expect(outcome).toEqual({ applied: false, code: 'CONFIG_INVALID', message: startupMessage });
    expect(proxy.app.config.upstream.template!.port).toBe(String(upstreamA.port));
    expect((await request(start, `${origin.url}/`)).status).toBe(200);
    const [line] = logged(proxy.logs, `configuration not reloaded, the running one stays: ${startupMessage}`);
    expect(line).toMatchObject({ level: 50, by: 'test', code: 'CONFIG_INVALID' });
    expect(proxy.logs.join('\n')).not.toContain('topsecret');
  });

  it('names the keys only a restart applies, and applies the rest', async () => {
    const proxy = await startReloadable(1, 1);
    const port = proxy.start;
    proxy.write(settings(port, port, { Listen: { HeadersTimeout: '5s' }, SessionAPI: { Enabled: false }, Logging: { Level: 'debug' } }));
    const outcome = await proxy.app.reload('test');
    expect(outcome).toMatchObject({ applied: true, changed: ['Logging.Level'], restartNeeded: ['Listen.HeadersTimeout', 'SessionAPI'] });
    expect(proxy.app.config.listen.headersTimeoutMs).toBe(30_000);
    expect(proxy.app.config.sessionApi.enabled).toBe(true);
    expect(logged(proxy.logs, 'changed keys that only a restart applies, kept as they run: Listen.HeadersTimeout, SessionAPI')).toHaveLength(1);
    // Logging.Level reaches every component's logger: the engine's debug line appears.
    await request(port, `${origin.url}/`);
    expect(logged(proxy.logs, 'request').some((line) => line.component === 'proxy' && line.level === 20)).toBe(true);
  });

  // Listen.Host waits for a restart, so a file that moves to 127.0.0.1 and drops the login would
  // leave ports bound to 0.0.0.0 with no login: an open proxy. (Bound to 0.0.0.0 here with a
  // login required; every request still goes to 127.0.0.1.)
  it('refuses to drop the login of ports that keep a public address until a restart', async () => {
    const login = { Required: true, Username: 'client', Password: 'client-pass' };
    const proxy = await startReloadable(1, 1, { Listen: { Host: '0.0.0.0' }, Authentication: login });
    const port = proxy.start;
    proxy.write(settings(port, port, { Authentication: { Required: false } }));
    const outcome = await proxy.app.reload('test');
    expect(outcome).toMatchObject({ applied: false, code: 'CONFIG_INVALID' });
    expect(outcome.applied === false && outcome.message).toMatch(/Authentication\.Required is false, but port \d+ still listen on 0\.0\.0\.0 .*open proxy/);
    const before = upstreamA.seen.length;
    expect((await request(port, `${origin.url}/`)).status).toBe(407);
    // With the login kept, the same move applies, and the address waits for the restart.
    proxy.write(settings(port, port, { Authentication: login }));
    expect(await proxy.app.reload('test')).toMatchObject({ applied: true, restartNeeded: expect.arrayContaining(['Listen.Host']) });
    expect((await request(port, `${origin.url}/`)).status).toBe(407);
    expect(upstreamA.seen.length).toBe(before);
  });

  it('keeps the private-target rule of the address that runs until the address changes at a restart', async () => {
    const login = { Required: true, Username: 'client', Password: 'client-pass' };
    // Direct (no upstream) on 0.0.0.0: "auto" forbids private targets such as the origin on 127.0.0.1.
    const direct = { Listen: { Host: '0.0.0.0' }, Authentication: login, Upstream: { Url: '' } };
    const proxy = await startReloadable(1, 1, direct);
    const port = proxy.start;
    const auth = { headers: { 'proxy-authorization': basic('client', 'client-pass') } };
    expect((await request(port, `${origin.url}/`, auth)).status).toBe(403);
    proxy.write(settings(port, port, { Authentication: login, Upstream: { Url: '' } }));
    expect(await proxy.app.reload('test')).toMatchObject({ applied: true, restartNeeded: expect.arrayContaining(['Listen.Host', 'Listen.AllowPrivateTargets']) });
    // A new session takes the mapping's settings as they now run: still 0.0.0.0, still forbidden.
    expect((await request(port, 'http://portmapper/session/new', auth)).status).toBe(200);
    expect((await request(port, `${origin.url}/`, auth)).status).toBe(403);
  });

  // Unnamed mappings are named by their place: two swapped in the file were taken for two that
  // changed address, and the reload was refused as an open proxy (or as ports in use).
  it('two unnamed mappings swapped in the file change nothing', async () => {
    const login = { Required: true, Username: 'client', Password: 'client-pass' };
    const proxy = await startReloadable(1, 4);
    const start = proxy.start;
    const mappings = [
      { Listen: { Host: '0.0.0.0', PortRange: { Start: start + 2, End: start + 2 } }, Authentication: login },
      { Listen: { Host: '127.0.0.1', PortRange: { Start: start + 3, End: start + 3 } } },
    ];
    proxy.write({ ...settings(start, start), Mappings: mappings });
    expect(await proxy.app.reload('test')).toMatchObject({ applied: true });
    proxy.write({ ...settings(start, start), Mappings: [mappings[1], mappings[0]] });
    const outcome = await proxy.app.reload('test');
    expect(outcome).toMatchObject({ applied: true, added: '', removed: '' });
    expect(outcome.applied && outcome.restartNeeded).not.toContain('Listen.Host');
    expect((await request(start + 3, `${origin.url}/`)).status).toBe(200);
    expect((await request(start + 2, `${origin.url}/`)).status).toBe(407);
  });

  // A mapping renamed on the same ports, its login turned on: the change applied, but the
  // reload answered "nothing changed" (adversarial pass).
  it('a mapping renamed on its ports says so, and what changed with the name', async () => {
    const proxy = await startReloadable(1, 3);
    const start = proxy.start;
    const mapping = { Name: 'first', Listen: { PortRange: { Start: start + 1, End: start + 1 } } };
    proxy.write({ ...settings(start, start), Mappings: [mapping] });
    expect(await proxy.app.reload('test')).toMatchObject({ applied: true });
    expect((await request(start + 1, `${origin.url}/`)).status).toBe(200);
    proxy.write({ ...settings(start, start), Mappings: [{ ...mapping, Name: 'second', Authentication: { Required: true, Username: 'client', Password: 'client-pass' } }] });
    const outcome = await proxy.app.reload('test');
    expect(outcome).toMatchObject({ applied: true, added: '', removed: '' });
    expect(outcome.applied && outcome.changed).toEqual(['Mappings[0].Name', 'Mappings[0].Authentication']);
  });

  // Session.IdLength waits for a restart, but a reload checked a preset against the file's new
  // value: iproyal went in force with the running 12-character ids, which start-up refuses.
  it('a preset is checked against the session id rule in force, not the one waiting for a restart', async () => {
    const proxy = await startReloadable(1, 1, { Session: { IdLength: 12 } });
    proxy.write(settings(proxy.start, proxy.start, {
      Session: { IdLength: 8 },
      Upstream: { Url: undefined, Preset: 'iproyal', Username: 'acme', Password: 'pw', Host: '127.0.0.1', Port: upstreamA.port },
    }));
    const outcome = await proxy.app.reload('test');
    expect(outcome.applied).toBe(false);
    expect(JSON.stringify(outcome)).toMatch(/Session\.IdLength/);
    expect(JSON.stringify(outcome)).not.toContain('"pw"');
    // The value judged is the running 12, which the file no longer holds: the message says so.
    expect(JSON.stringify(outcome)).toMatch(/Session\.IdLength = 12 \(from the running process/);
  });

  // A reload that removed a port while a request on it waited for its answer: the request's
  // connection upstream closed with the port's session, its retry asked for the port's current
  // route, and the port's lookup threw inside undici's close handler (an uncaught exception).
  it('a port removed while a request on it waits for its answer: that request ends, nothing throws, the kept port serves', async () => {
    const proxy = await startReloadable(2, 2);
    const removed = proxy.start + 1;
    const before = upstreamA.seen.length;
    const waiting = request(removed, `${origin.url}/delay/1500`).then(
      (answer) => answer.status,
      () => 0,
    );
    await eventually(() => upstreamA.seen.length > before, 'the request reached the upstream');
    proxy.write(settings(proxy.start, proxy.start));
    expect(await proxy.app.reload('test')).toMatchObject({ applied: true, removed: String(removed) });
    expect([0, 502, 503]).toContain(await waiting);
    expect((await request(proxy.start, `${origin.url}/`)).status).toBe(200);
    expect(proxy.logs.filter((line) => line.includes('BUG'))).toEqual([]);
  });

  it('Logging.Requests changes at once', async () => {
    const proxy = await startReloadable(1, 1);
    const port = proxy.start;
    await request(port, `${origin.url}/`);
    proxy.write(settings(port, port, { Logging: { Requests: false } }));
    expect(await proxy.app.reload('test')).toMatchObject({ applied: true, changed: ['Logging.Requests'] });
    await request(port, `${origin.url}/`);
    await request(port, `${origin.url}/`);
    // Stopping writes the lines still waiting for their batch.
    await proxy.app.stop(100);
    expect(logged(proxy.logs, 'request completed')).toHaveLength(1);
  });

  it('without a configuration to read again, a reload is refused', async () => {
    const start = await freePortRange(1);
    const config = loadConfig({ cwd: mkdtempSync(path.join(tmpdir(), 'stickyport-reload-')), env: { STICKYPORT_PORT_START: String(start), STICKYPORT_PORT_END: String(start) } });
    const app = await createApp(config, { log: createLogger('silent') });
    running.push(app);
    await app.start();
    expect(await app.reload('test')).toMatchObject({ applied: false, code: 'RELOAD_UNAVAILABLE' });
  });
});

describe('POST /api/reload', () => {
  it('reloads as SIGHUP does and answers with what changed, or 422 with the loader\'s message', async () => {
    const adminPort = await freePort();
    const proxy = await startReloadable(1, 2, { Admin: { Enabled: true, Port: adminPort } });
    const { start } = proxy;
    const admin = adminClient(adminPort);
    proxy.write(settings(start, start + 1, { Admin: { Enabled: true, Port: adminPort } }));
    const applied = await admin.post('/api/reload');
    expect(applied.status).toBe(200);
    expect(applied.json).toEqual({ applied: true, changed: ['Listen.PortRange'], added: String(start + 1), removed: '', restartNeeded: [] });
    expect((await admin.get('/api/ports')).json.total).toBe(2);
    await eventually(() => logged(proxy.logs, 'configuration reloaded').some((line) => line.by === '127.0.0.1'), 'logged with who asked');
    proxy.write({ Listen: { PortRange: { Start: 'x' } } });
    const refusedAnswer = await admin.post('/api/reload');
    expect(refusedAnswer.status).toBe(422);
    expect(refusedAnswer.json).toMatchObject({ applied: false, code: 'CONFIG_INVALID', message: expect.stringContaining('Listen.PortRange.Start = "x"') });
    const { text } = await admin.get('/metrics');
    expect(text).toContain('stickyport_config_reloads_total{result="applied"} 1');
    expect(text).toContain('stickyport_config_reloads_total{result="refused"} 1');
  });
});

describe('reload: mappings', () => {
  it('binds an added mapping and closes a removed one without touching the mapping that stays', async () => {
    const proxy = await startReloadable(1, 4);
    const { start } = proxy;
    const mappings = (names: string[]): object =>
      settings(start, start, {
        Mappings: names.map((name) => {
          const offset = { keep: 0, gone: 1, added: 2 }[name]!;
          const upstream = name === 'added' ? upstreamB : upstreamA;
          return { Name: name, Listen: { Port: start + offset }, Upstream: { Url: upstreamUrl(upstream.port) } };
        }) as unknown as Record<string, unknown>,
      });
    proxy.write(mappings(['keep', 'gone']));
    expect(await proxy.app.reload('test')).toMatchObject({ applied: true });
    expect((await request(start + 1, `${origin.url}/`)).status).toBe(200);
    const kept = await openTunnel(start, `127.0.0.1:${origin.port}`);
    expect(kept.status).toBe(200);
    const keptSession = proxy.app.ports.peek(start)!.session!.id;

    proxy.write(mappings(['keep', 'added']));
    expect(await proxy.app.reload('test')).toMatchObject({ applied: true });
    expect(await refused(start + 1)).toBe(true);
    const before = upstreamB.seen.length;
    expect((await request(start + 2, `${origin.url}/`)).status).toBe(200);
    expect(upstreamB.seen.length).toBe(before + 1);
    // The mapping that stayed: same session, tunnel still open.
    expect(proxy.app.ports.peek(start)!.session!.id).toBe(keptSession);
    expect(kept.socket.destroyed).toBe(false);
    kept.socket.destroy();
  });
});
