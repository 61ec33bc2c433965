import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { request } from '../helpers/client.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { startStickyport, upstreamUrl, type RunningProxy } from '../helpers/stickyport.js';

// A BodyContains rule on a compressed answer: the scan decodes behind the relay, so its verdict
// came after the client had the whole answer. A client that read the captcha page to its end
// and asked again at once went out on the session the rule was about to condemn (a plain body
// rotates in the same turn as the chunk that holds the marker). The answer now ends once the
// scan's verdict is in. Marker deep in a page that compresses to little: the decoder has 250 KiB
// to work through after the last compressed byte arrived.

const MARKER = 'g-recaptcha';
const PAGE = gzipSync(Buffer.from(`<html>${'a'.repeat(250 * 1024)}<div class="${MARKER}"></div></html>`));

let origin: http.Server;
let originUrl = '';
let upstream: RecordingUpstream;
let proxy: RunningProxy;

beforeAll(async () => {
  origin = http.createServer((req, response) => {
    if (req.url!.startsWith('/page')) response.writeHead(200, { 'content-type': 'text/html', 'content-encoding': 'gzip', 'content-length': PAGE.length }).end(PAGE);
    else response.writeHead(200, { 'content-length': 2 }).end('ok');
  });
  origin.listen(0, '127.0.0.1');
  await once(origin, 'listening');
  originUrl = `http://127.0.0.1:${(origin.address() as AddressInfo).port}`;
  upstream = await startRecordingUpstream();
  proxy = await startStickyport(
    { Upstream: { Url: upstreamUrl(upstream.port) }, Rotation: { BodyScanKiB: 512, Rules: [{ Name: 'captcha', When: { BodyContains: MARKER }, Cooldown: 0 }] }, Logging: { Level: 'warn' } },
    { portCount: 1 },
  );
});
afterAll(async () => {
  await proxy?.stop();
  await upstream?.close();
  await new Promise<void>((resolve) => origin.close(() => resolve()));
});

it('a client that read a compressed captcha answer to its end and asks again at once goes out on a new session, 10 times of 10', async () => {
  const [port] = proxy.ports as [number];
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const stale: number[] = [];
    for (let round = 0; round < 10; round++) {
      const answer = await request(port, `${originUrl}/page/${round}`, { agent, headers: { 'accept-encoding': 'gzip' } });
      expect(answer.status).toBe(200);
      const captcha = upstream.seen.at(-1)!.session;
      await request(port, `${originUrl}/next/${round}`, { agent });
      if (upstream.seen.at(-1)!.session === captcha) stale.push(round);
    }
    expect(stale).toEqual([]);
  } finally {
    agent.destroy();
  }
});
