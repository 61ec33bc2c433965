import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getThroughTunnel } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { socks4Connect, socks5Connect } from '../helpers/socks-client.js';
import { startStickyport, upstreamUrl, type RunningProxy } from '../helpers/stickyport.js';

// SOCKS clients go through the same host rules as HTTP clients (src/proxy/way-out.ts): a
// denied host is the SOCKS reply "not allowed by ruleset" (0x02) with nothing sent upstream; a
// bypassed host goes direct and never reaches the upstream; an override changes where it goes.
let origin: Origin;
let upstream: RecordingUpstream;
let proxy: RunningProxy;

beforeAll(async () => {
  origin = await startOrigin();
  upstream = await startRecordingUpstream();
  proxy = await startStickyport(
    {
      Upstream: { Url: upstreamUrl(upstream.port) },
      HostRules: [
        { Pattern: '*.denied.test', Action: 'Deny' },
        { Pattern: 'direct.test', Action: 'Bypass', OverrideHost: '127.0.0.1' },
        { Pattern: 'moved.test', OverrideHost: '127.0.0.1', OverridePort: origin.port },
      ],
    },
    { portCount: 1 },
  );
});
afterAll(async () => {
  await proxy?.stop();
  await upstream?.close();
  await origin?.close();
});

describe('host rules for SOCKS clients', () => {
  it('answers a denied host with 0x02 (SOCKS5) and 0x5B (SOCKS4a), nothing sent upstream', async () => {
    const before = upstream.seen.length;
    const five = await socks5Connect(proxy.ports[0]!, { host: 'ads.denied.test', port: 443 });
    expect(five.code).toBe(0x02);
    five.client.destroy();
    const four = await socks4Connect(proxy.ports[0]!, { host: 'ads.denied.test', port: 443 });
    expect(four.code).toBe(0x5b);
    four.client.destroy();
    expect(upstream.seen.length).toBe(before);
    expect(proxy.logs.some((line) => line.includes('HOST_DENIED'))).toBe(true);
  });

  it('sends a bypassed host directly: the upstream never sees it', async () => {
    const before = upstream.seen.length;
    const { code, client } = await socks5Connect(proxy.ports[0]!, { host: 'direct.test', port: origin.port });
    expect(code).toBe(0x00);
    const answer = await getThroughTunnel(client.socket, `direct.test:${origin.port}`);
    expect(answer.body).toBe('hello');
    client.destroy();
    expect(upstream.seen.slice(before).filter((entry) => entry.target.includes('direct.test'))).toEqual([]);
  });

  it('takes an override through the port session', async () => {
    const { code, client } = await socks5Connect(proxy.ports[0]!, { host: 'moved.test', port: 443 });
    expect(code).toBe(0x00);
    const answer = await getThroughTunnel(client.socket, 'moved.test');
    expect(answer.body).toBe('hello');
    client.destroy();
    expect(upstream.seen.at(-1)).toMatchObject({ kind: 'connect', target: `127.0.0.1:${origin.port}` });
  });
});
