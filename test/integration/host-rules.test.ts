import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiJson, getThroughTunnel, openTunnel, request } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { freePortRange } from '../helpers/ports.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { startStickyport, upstreamUrl, type RunningProxy } from '../helpers/stickyport.js';

// Host rules on plain HTTP and CONNECT alike: Deny answers 403 and sends nothing; Bypass goes
// direct and never reaches the upstream; OverrideHost/OverridePort change where the connection
// goes (not the Host header); a rule's own Upstream is a route of its own per session. A
// mapping's own rules come before the global ones; the first match decides.

let origin: Origin;
let upstream: RecordingUpstream;
let side: RecordingUpstream;
let proxy: RunningProxy;
let strict: number;
let lenient: number;

beforeAll(async () => {
  origin = await startOrigin();
  upstream = await startRecordingUpstream();
  side = await startRecordingUpstream();
  const first = await freePortRange(2);
  [strict, lenient] = [first, first + 1];
  proxy = await startStickyport(
    {
      Upstream: { Url: upstreamUrl(upstream.port) },
      HostRules: [
        { Pattern: 'denied.test', Action: 'Deny' },
        { Pattern: '*.tracker.test', Action: 'Deny' },
        { Pattern: 'localhost', Action: 'Bypass' },
        { Pattern: 'cdn.test', Action: 'Bypass', OverrideHost: '127.0.0.1' },
        { Pattern: 'moved.test', OverrideHost: '127.0.0.1', OverridePort: origin.port },
        { Pattern: '/side-[0-9]+\\.test/', OverrideHost: '127.0.0.1', OverridePort: origin.port, Upstream: { Url: `http://side-session-{session}:secret@127.0.0.1:${side.port}` } },
        { Pattern: '/(.*\\.)?blocked\\.test/', Action: 'Deny' },
      ],
      Mappings: [
        { Name: 'strict', Listen: { Port: strict } },
        // Its own rule comes first: denied.test is allowed here, through the session.
        { Name: 'lenient', Listen: { Port: lenient }, HostRules: [{ Pattern: 'denied.test', OverrideHost: '127.0.0.1', OverridePort: origin.port }] },
      ],
    },
    { startPort: first, portCount: 2 },
  );
});

afterAll(async () => {
  // Whatever ran: a bypassed host never reached either upstream.
  for (const seen of [...upstream.seen, ...side.seen]) expect(seen.target).not.toMatch(/localhost|cdn\.test/);
  await proxy?.stop();
  await upstream?.close();
  await side?.close();
  await origin?.close();
});

const sessionOf = async (port: number): Promise<string> => (await apiJson<{ session_id: string }>(port, '/session/')).session_id;

describe('Deny', () => {
  it('answers plain HTTP with 403 HOST_DENIED naming the rule, and sends nothing upstream', async () => {
    const before = upstream.seen.length;
    const answer = await request(strict, 'http://denied.test/secret');
    expect(answer.status).toBe(403);
    expect(answer.headers['x-stickyport-error']).toBe('HOST_DENIED');
    expect(answer.body).toContain('denied.test is denied by HostRules[0] ("denied.test")');
    expect(upstream.seen.length).toBe(before);
  });

  it('names a regular expression rule as it is written, not JSON-escaped', async () => {
    const answer = await request(strict, 'http://x.blocked.test/');
    expect(answer.status).toBe(403);
    expect(answer.body).toContain('x.blocked.test is denied by HostRules[6] ("/(.*\\.)?blocked\\.test/")');
  });

  it('answers CONNECT with 403 HOST_DENIED, and sends nothing upstream', async () => {
    const before = upstream.seen.length;
    const tunnel = await openTunnel(strict, 'ads.tracker.test:443');
    expect(tunnel.status).toBe(403);
    tunnel.socket.destroy();
    expect(upstream.seen.length).toBe(before);
  });

  it('logs the rule that decided at debug', () => {
    const decided = proxy.logs.map((line) => JSON.parse(line)).filter((line) => line.msg === 'host rule decided');
    expect(decided).toEqual(expect.arrayContaining([expect.objectContaining({ host: 'ads.tracker.test', rule: 'HostRules[1]', action: 'Deny', pattern: '*.tracker.test' })]));
  });
});

describe('Bypass', () => {
  it('connects plain HTTP directly, never through the upstream', async () => {
    const answer = await request(strict, `http://localhost:${origin.port}/`);
    expect([answer.status, answer.body]).toEqual([200, 'hello']);
  });

  it('opens CONNECT tunnels directly, never through the upstream', async () => {
    const tunnel = await openTunnel(strict, `localhost:${origin.port}`);
    expect(tunnel.status).toBe(200);
    expect((await getThroughTunnel(tunnel.socket, `localhost:${origin.port}`)).body).toBe('hello');
    tunnel.socket.destroy();
  });

  it('goes to OverrideHost, keeping the client\'s Host header', async () => {
    const answer = await request(strict, `http://cdn.test:${origin.port}/headers`);
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body).host).toBe(`cdn.test:${origin.port}`);
    const tunnel = await openTunnel(strict, `cdn.test:${origin.port}`);
    expect(tunnel.status).toBe(200);
    expect((await getThroughTunnel(tunnel.socket, `cdn.test:${origin.port}`)).body).toBe('hello');
    tunnel.socket.destroy();
  });
});

describe('OverrideHost and OverridePort through the session', () => {
  it('sends plain HTTP to the override through the upstream, with the port\'s session and the client\'s Host', async () => {
    const before = upstream.seen.length;
    const answer = await request(strict, 'http://moved.test/headers');
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body).host).toBe('moved.test');
    const [seen] = upstream.seen.slice(before);
    expect(seen).toMatchObject({ kind: 'http', target: `http://127.0.0.1:${origin.port}/headers`, session: await sessionOf(strict) });
  });

  it('opens the tunnel to the override through the upstream', async () => {
    const before = upstream.seen.length;
    const tunnel = await openTunnel(strict, 'moved.test:443');
    expect(tunnel.status).toBe(200);
    expect((await getThroughTunnel(tunnel.socket, 'moved.test')).body).toBe('hello');
    tunnel.socket.destroy();
    expect(upstream.seen.slice(before)).toEqual([expect.objectContaining({ kind: 'connect', target: `127.0.0.1:${origin.port}` })]);
  });
});

describe('a rule with an upstream of its own', () => {
  it('renders the port\'s session into it, and a rotation moves it to the new session', async () => {
    const before = upstream.seen.length;
    const id = await sessionOf(strict);
    expect((await request(strict, 'http://side-1.test/')).body).toBe('hello');
    const tunnel = await openTunnel(strict, 'side-2.test:443');
    expect(tunnel.status).toBe(200);
    tunnel.socket.destroy();
    expect(side.seen.map((seen) => seen.username)).toEqual([`side-session-${id}`, `side-session-${id}`]);
    const renewed = (await apiJson<{ session_id: string }>(strict, '/session/new')).session_id;
    expect((await request(strict, 'http://side-3.test/')).body).toBe('hello');
    expect(side.seen.at(-1)!.username).toBe(`side-session-${renewed}`);
    expect(upstream.seen.length).toBe(before);
  });

  it('closes a tunnel on the rule\'s route when the session rotates', async () => {
    const tunnel = await openTunnel(strict, `side-4.test:${origin.port}`);
    expect(tunnel.status).toBe(200);
    const closed = new Promise((resolve) => tunnel.socket.once('close', resolve));
    await apiJson(strict, '/session/new');
    await closed;
  });
});

describe('mapping rules before global ones', () => {
  it('lets the mapping\'s own rule win over a global Deny for the same host', async () => {
    const before = upstream.seen.length;
    const allowed = await request(lenient, 'http://denied.test/');
    expect([allowed.status, allowed.body]).toEqual([200, 'hello']);
    expect(upstream.seen.slice(before)).toEqual([expect.objectContaining({ session: await sessionOf(lenient) })]);
    expect((await request(strict, 'http://denied.test/')).status).toBe(403);
  });
});
