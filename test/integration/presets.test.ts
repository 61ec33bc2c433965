import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiJson, getThroughTunnel, openTunnel, request } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { freePortRange } from '../helpers/ports.js';
import { DOCUMENTED } from '../helpers/preset-cases.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { startStickyport, type RunningProxy } from '../helpers/stickyport.js';

// One mapping per provider preset, each pointed (Upstream.Host/Port) at the recording upstream:
// what it receives is exactly the documented user name and password, with the port's session id.

let origin: Origin;
let upstream: RecordingUpstream;
let proxy: RunningProxy;
let first: number;

beforeAll(async () => {
  origin = await startOrigin();
  upstream = await startRecordingUpstream((password) => password.startsWith('pw'));
  first = await freePortRange(DOCUMENTED.length);
  proxy = await startStickyport(
    {
      Listen: { StickyProxyLifetime: '30m' },
      Mappings: DOCUMENTED.map(([preset, account], i) => ({
        Name: preset,
        Listen: { Port: first + i },
        Upstream: { Preset: preset, Username: account, Password: 'pw', Host: '127.0.0.1', Port: upstream.port, Parameters: { country: 'de', city: 'berlin' } },
      })),
    },
    { startPort: first, portCount: DOCUMENTED.length },
  );
});

afterAll(async () => {
  await proxy?.stop();
  await upstream?.close();
  await origin?.close();
});

describe.each(DOCUMENTED.map((documented, i) => [documented[0], documented, i] as const))('the %s preset', (_name, [, , username, password], i) => {
  it('sends the documented user name and password with the port\'s session id, on plain HTTP and CONNECT', async () => {
    const port = first + i;
    const { session_id } = await apiJson<{ session_id: string }>(port, '/session/');
    const from = upstream.seen.length;
    expect((await request(port, `${origin.url}/`)).status).toBe(200);
    const tunnel = await openTunnel(port, `127.0.0.1:${origin.port}`);
    expect((await getThroughTunnel(tunnel.socket, `127.0.0.1:${origin.port}`)).body).toBe('hello');
    tunnel.socket.destroy();
    const expected = { username: username.replace('AbCdEfGh', session_id), password: password.replace('AbCdEfGh', session_id) };
    expect(upstream.seen.slice(from)).toEqual([expect.objectContaining({ kind: 'http', ...expected }), expect.objectContaining({ kind: 'connect', ...expected })]);
  });
});
