import { mkdtempSync, writeFileSync } from 'node:fs';
import type net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startHttpTarget, type HttpTarget } from '../helpers/http-target.js';
import { createApp, type App } from '../../src/app.js';
import { loadConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/logging/logger.js';
import { apiJson, request } from '../helpers/client.js';
import { freePort } from '../helpers/ports.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { logSink, upstreamUrl } from '../helpers/stickyport.js';

// A bypassed GET whose connection breaks before any answer byte is sent once more, and a
// bypassed host must never go out through the upstream with the session id. The retry asked
// the port for "the same kind of route" (PortState.reroute), which recognised the bypass route
// by the port's mapping *now*: after a reload and a rotation the port has another mapping
// object, the old bypass route was no longer recognised, and the retry went out on the
// session's route, through the upstream, with an id.

let target: HttpTarget;
let targetPort: number;
const held: net.Socket[] = [];
let arrived: (() => void) | undefined;
let upstreamA: RecordingUpstream;
let upstreamB: RecordingUpstream;
let app: App;
let port: number;
let write: (upstream: RecordingUpstream) => void;

beforeAll(async () => {
  // The bypassed target: the first request is held (the test breaks its connection), the others answered.
  target = await startHttpTarget((req, res) => {
    if (req.url === '/held' && held.length === 0) {
      held.push(req.socket);
      return arrived?.();
    }
    res.writeHead(200, { 'content-length': 2 }).end('ok');
  });
  targetPort = target.port;
  upstreamA = await startRecordingUpstream();
  upstreamB = await startRecordingUpstream();
  port = await freePort();
  const dir = mkdtempSync(path.join(tmpdir(), 'stickyport-bypass-reload-'));
  write = (upstream) =>
    writeFileSync(
      path.join(dir, 'appsettings.json'),
      JSON.stringify({
        Listen: { Host: '127.0.0.1', PortRange: { Start: port, End: port }, StickyProxyLifetime: 10, AllowPrivateTargets: true },
        Upstream: { Url: upstreamUrl(upstream.port) },
        HostRules: [{ Pattern: 'bypass.test', Action: 'Bypass', OverrideHost: '127.0.0.1', OverridePort: targetPort }],
        SessionAPI: { Enabled: true, Domain: 'portmapper' },
        Logging: { Level: 'warn' },
      }),
    );
  write(upstreamA);
  const load = () => loadConfig({ cwd: dir, env: {} });
  const config = load();
  app = await createApp(config, { log: createLogger(config.logLevel, logSink().stream), loadConfig: load });
  await app.start();
});

afterAll(async () => {
  await app?.stop(100);
  for (const socket of held) socket.destroy();
  await target?.close();
  await upstreamA?.close();
  await upstreamB?.close();
});

it('a bypassed GET retried after a reload and a rotation goes out directly again, never through the upstream', async () => {
  expect((await request(port, 'http://bypass.test/warm')).status).toBe(200);
  // The port's session (through the upstream), so that the reload waits for its next rotation.
  expect((await request(port, `http://127.0.0.1:${targetPort}/through-upstream`)).status).toBe(200);
  expect(upstreamA.seen.at(-1)!.session).toBeDefined();
  const first = new Promise<void>((resolve) => (arrived = resolve));
  const pending = request(port, 'http://bypass.test/held');
  await first;
  write(upstreamB);
  expect(await app.reload('test')).toMatchObject({ applied: true });
  await apiJson(port, '/session/new');
  held[0]!.destroy();
  const answer = await pending;
  const through = [...upstreamA.seen, ...upstreamB.seen].filter((entry) => entry.target.endsWith('/held'));
  expect(through.map((entry) => entry.username), 'a bypassed request went out through the upstream').toEqual([]);
  expect(answer.status).toBe(200);
});
