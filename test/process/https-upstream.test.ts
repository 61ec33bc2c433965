import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getThroughTunnel, openTunnel, request } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { freePortRange } from '../helpers/ports.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { selfSigned, type SelfSigned } from '../helpers/self-signed.js';
import { spawnStickyport, writeConfig, type SpawnedStickyport } from '../helpers/spawn-stickyport.js';

// An https:// upstream is a proxy spoken to over TLS, its certificate verified like any other.
// The test trusts its own throw-away CA through NODE_EXTRA_CA_CERTS, so the proxy runs as its
// own process.
let tls: SelfSigned;
let origin: Origin;
let upstream: RecordingUpstream;
// Answers targets named *.test itself (403): no name is resolved, nothing leaves 127.0.0.1.
let named: RecordingUpstream;
const running: SpawnedStickyport[] = [];

beforeAll(async () => {
  tls = selfSigned();
  origin = await startOrigin();
  upstream = await startRecordingUpstream('secret', tls);
  named = await startRecordingUpstream('secret', tls, (target) => !/\.test[:/]/.test(target));
});

afterAll(async () => {
  await Promise.all(running.map((proc) => proc.stop('SIGKILL')));
  await upstream.close();
  await named.close();
  await origin.close();
});

async function start(env: NodeJS.ProcessEnv, provider = `localhost:${upstream.port}`): Promise<number> {
  const port = await freePortRange(1);
  const proc = spawnStickyport(
    [
      '--config',
      writeConfig({
        Listen: { PortRange: { Start: port, End: port } },
        Upstream: { Url: `https://customer-acme-session-{session}:secret@${provider}` },
      }),
    ],
    env,
  );
  running.push(proc);
  await proc.waitForLine(/stickyport listening/);
  return port;
}

describe('HTTPS upstream proxy', () => {
  it('carries plain HTTP and CONNECT over TLS to the upstream, with the port session in the login', async () => {
    const port = await start({ NODE_EXTRA_CA_CERTS: tls.certFile });
    expect((await request(port, `${origin.url}/`)).body).toBe('hello');
    const tunnel = await openTunnel(port, `127.0.0.1:${origin.port}`);
    expect(tunnel.status).toBe(200);
    expect((await getThroughTunnel(tunnel.socket, `127.0.0.1:${origin.port}`)).body).toBe('hello');
    tunnel.socket.destroy();

    const seen = upstream.seen.slice(-2);
    expect(seen.map((entry) => entry.kind)).toEqual(['http', 'connect']);
    expect(seen[0]!.session).toMatch(/^[a-zA-Z]{8}$/);
    expect(seen[1]!.session).toBe(seen[0]!.session);
  });

  // undici took the TLS name from each request's Host header: a target named by host name had
  // the provider's certificate checked against the target's name (502), and each new target
  // name dropped the pooled connection.
  it.each([['localhost', 'a host name'], ['127.0.0.1', 'an address']])('carries targets named by host name: TLS names the provider (%s, %s), and one pooled connection serves them all', async (host) => {
    const port = await start({ NODE_EXTRA_CA_CERTS: tls.certFile }, `${host}:${named.port}`);
    const before = named.seen.length;
    const answers = [];
    for (const target of ['http://first.test/', 'http://second.test/', 'http://first.test/x']) answers.push((await request(port, target)).status);
    // 403 is the provider's own answer to these targets: each request reached it.
    expect(answers).toEqual([403, 403, 403]);
    const seen = named.seen.slice(before);
    expect(seen.map((entry) => entry.target)).toEqual(['http://first.test/', 'http://second.test/', 'http://first.test/x']);
    expect(new Set(seen.map((entry) => entry.connectionId)).size).toBe(1);
  });

  it('answers 502 naming the certificate problem when the upstream certificate is not trusted', async () => {
    const port = await start({});
    const before = upstream.seen.length;
    const tunnel = await openTunnel(port, `127.0.0.1:${origin.port}`);
    expect(tunnel.status).toBe(502);
    tunnel.socket.destroy();
    const answer = await request(port, `${origin.url}/`);
    expect(answer.status).toBe(502);
    expect(answer.body).toContain('presented a TLS certificate that is not trusted (DEPTH_ZERO_SELF_SIGNED_CERT)');
    expect(upstream.seen.length).toBe(before);
  });
});
