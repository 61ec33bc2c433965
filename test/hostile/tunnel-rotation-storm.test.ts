import net from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openTunnel } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { socks5Connect } from '../helpers/socks-client.js';
import { startStickyport, upstreamUrl, type RunningProxy } from '../helpers/stickyport.js';

// A tunnel still opening is sent out again on the port's new session after each rotation, each
// time with a fresh Upstream.ConnectTimeout: with rotations coming faster than the upstream
// answers a CONNECT, the client waited as long as they came (32 s in the adversarial run, no
// answer, 32 CONNECTs upstream). Now, once ConnectTimeout has passed since the client asked,
// the next rotation ends the wait with the timeout's answer: 504 UPSTREAM_TIMEOUT, SOCKS5 0x06.

let origin: Origin;
let upstream: RecordingUpstream;
let proxy: RunningProxy;

beforeAll(async () => {
  [origin, upstream] = await Promise.all([startOrigin(), startRecordingUpstream()]);
  proxy = await startStickyport({ Upstream: { Url: upstreamUrl(upstream.port), ConnectTimeout: '1s' } }, { portCount: 1 });
});

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([origin?.close(), upstream?.close()]);
});

/** Rotates the port every `everyMs` until `answered` settles (at most 40 times); resolves with the count. */
async function rotateUntil(answered: Promise<unknown>, everyMs: number): Promise<number> {
  let settled = false;
  void answered.finally(() => (settled = true));
  let rotations = 0;
  while (!settled && rotations < 40) {
    await new Promise((resolve) => setTimeout(resolve, everyMs));
    if (settled) break;
    await proxy.app.ports.get(proxy.ports[0]!).renew();
    rotations++;
  }
  return rotations;
}

it.each(['CONNECT', 'SOCKS5'] as const)('a %s tunnel under rotations faster than the upstream answers gets the timeout answer once ConnectTimeout has passed', async (kind) => {
  upstream.connectDelayMs = 300;
  try {
    const port = proxy.ports[0]!;
    const from = upstream.seen.length;
    const target = `127.0.0.1:${origin.port}`;
    const answered =
      kind === 'CONNECT'
        ? openTunnel(port, target).then((tunnel) => {
            tunnel.socket.destroy();
            return { code: tunnel.status, error: tunnel.head };
          })
        : socks5Connect(port, { host: '127.0.0.1', port: origin.port }).then(({ code, client }) => {
            client.socket.destroy();
            return { code, error: '' };
          });
    const rotations = await rotateUntil(answered, 120);
    const { code } = await answered;
    expect(code).toBe(kind === 'CONNECT' ? 504 : 0x06);
    // It gave up after about ConnectTimeout (1 s of rotations every 120 ms), not after the 40th.
    expect(rotations).toBeLessThan(40);
    const connects = upstream.seen.slice(from).filter((seen) => seen.kind === 'connect');
    expect(connects.length).toBeGreaterThan(1);
    expect(connects.length).toBeLessThanOrEqual(rotations + 1);
  } finally {
    upstream.connectDelayMs = 0;
  }
});

// A client that left while its tunnel was being sent out again still had CONNECTs sent for it
// on each new session, until the deadline.
it('a client that leaves while its tunnel is opening gets no further CONNECT sent for it after a rotation', async () => {
  upstream.connectDelayMs = 300;
  try {
    const port = proxy.ports[0]!;
    const from = upstream.seen.length;
    const client = net.connect(port, '127.0.0.1', () => client.write(`CONNECT 127.0.0.1:${origin.port} HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\n\r\n`));
    client.on('error', () => undefined);
    await expect.poll(() => upstream.seen.length > from).toBe(true);
    // The port rotates while the CONNECT waits for its answer, and the client goes (a reset: one
    // that only half-closes may still want its answer, and is served as the README says).
    await proxy.app.ports.get(port).renew();
    client.resetAndDestroy();
    const sentBefore = upstream.seen.length;
    // Long enough for the answer (300 ms) and a re-send to show.
    await new Promise((resolve) => setTimeout(resolve, 900));
    expect(upstream.seen.length).toBe(sentBefore);
  } finally {
    upstream.connectDelayMs = 0;
  }
});
