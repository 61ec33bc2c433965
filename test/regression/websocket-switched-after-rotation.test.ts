import { afterAll, beforeAll, expect, it } from 'vitest';
import { apiJson } from '../helpers/client.js';
import { startStickyport, upstreamUrl, type RunningProxy } from '../helpers/stickyport.js';
import { readAnswerHead, startUpgradeUpstream, SWITCH, upgradeAcrossRotation, type UpgradeUpstream } from '../helpers/upgrade-upstream.js';

// A WebSocket whose upgrade was on its way when the port rotated, and whose 101 came back after
// the rotation answered: that connection carries the old identity and is dropped. The client
// was answered nothing yet. It used to be cut without any answer; a CONNECT in the same spot
// goes out again on the new session (way-out.ts), and so must the upgrade: the client gets the
// 101 of a WebSocket on the new session, bound to it.

let upstream: UpgradeUpstream;
let proxy: RunningProxy;

beforeAll(async () => {
  // The first upgrade is answered when the test says; the others at once.
  upstream = await startUpgradeUpstream({ echoFirst: true });
  proxy = await startStickyport({ Upstream: { Url: upstreamUrl(upstream.port) }, Logging: { Level: 'warn' } }, { portCount: 1 });
});

afterAll(async () => {
  await proxy?.stop();
  await upstream?.close();
});

it('a 101 that comes back after a rotation answered: the upgrade goes out again on the new session and the client gets its 101', async () => {
  const port = proxy.ports[0]!;
  const { client, old, renewed } = await upgradeAcrossRotation(upstream, port);
  try {
    upstream.upgrades[0]!.socket.write(SWITCH);

    const head = await readAnswerHead(client);
    expect(head.slice(0, 12), 'the client got no answer to its WebSocket request').toBe('HTTP/1.1 101');
    expect(upstream.upgrades.map((entry) => entry.session)).toEqual([old, renewed]);
    client.send('ping');
    expect((await client.read(4)).toString()).toBe('ping');
    // The old session's upgraded connection was dropped.
    await Promise.race([
      new Promise<void>((resolve) => (upstream.upgrades[0]!.socket.destroyed ? resolve() : upstream.upgrades[0]!.socket.once('close', () => resolve()))),
      new Promise((_, reject) => setTimeout(() => reject(new Error('the old session\'s upgraded connection stayed open')), 3_000)),
    ]);

    await apiJson(port, '/session/new');
    await client.untilClosed(5_000);
  } finally {
    client.destroy();
  }
});
