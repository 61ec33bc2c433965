import { afterAll, beforeAll, expect, it } from 'vitest';
import { apiJson } from '../helpers/client.js';
import { startStickyport, upstreamUrl, type RunningProxy } from '../helpers/stickyport.js';
import { readAnswerHead, startUpgradeUpstream, upgradeAcrossRotation, type UpgradeUpstream } from '../helpers/upgrade-upstream.js';

// A WebSocket request is a GET without a body: when its upstream connection breaks before any
// answer byte it is sent once more, on the port's *current* session (forward.ts mayRetry). When
// a rotation landed in between, that second try goes out on the new session and the upstream
// switches protocols: the WebSocket is the new session's, and must be relayed and bound to it
// (closed by the next rotation), not cut without an answer because the session it was first
// sent on is gone.

let upstream: UpgradeUpstream;
let proxy: RunningProxy;

beforeAll(async () => {
  // The first upgrade is held (the test breaks it); the others switch and echo.
  upstream = await startUpgradeUpstream();
  proxy = await startStickyport({ Upstream: { Url: upstreamUrl(upstream.port) }, Logging: { Level: 'warn' } }, { portCount: 1 });
});

afterAll(async () => {
  await proxy?.stop();
  await upstream?.close();
});

it('a WebSocket sent again on the new session after its first connection broke is answered and bound to the new session', async () => {
  const port = proxy.ports[0]!;
  const { client, renewed } = await upgradeAcrossRotation(upstream, port);
  try {
    // The first try's connection breaks before any answer byte: the GET goes once more.
    upstream.upgrades[0]!.socket.destroy();

    const head = await readAnswerHead(client);
    expect(head.slice(0, 12), 'the client got no answer to its WebSocket request').toBe('HTTP/1.1 101');
    expect(upstream.upgrades.slice(1).map((entry) => entry.session)).toEqual([renewed]);
    client.send('ping');
    expect((await client.read(4)).toString()).toBe('ping');

    // It is the new session's: the next rotation closes it.
    await apiJson(port, '/session/new');
    await client.untilClosed(5_000);
  } finally {
    client.destroy();
  }
});
