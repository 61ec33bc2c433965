import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { apiJson, request } from '../helpers/client.js';
import { startStickyport, type RunningProxy } from '../helpers/stickyport.js';

// BodyContains on a gzipped page bigger than four scan windows, marker near the top. The page
// comes in a burst of reads faster than the decoder works; the scan used to give up at four
// windows of input, dropping input the decoder had been given but not yet decoded: the marker
// was missed and the port did not rotate.

const MARKER = 'g-recaptcha';
const PAGE = gzipSync(Buffer.concat([Buffer.from(`<html><div class="${MARKER}"></div>`), randomBytes(1024 * 1024)]));

let origin: http.Server;
let originUrl = '';
let proxy: RunningProxy;

beforeAll(async () => {
  origin = http.createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'text/html', 'content-encoding': 'gzip', 'content-length': PAGE.length });
    response.end(PAGE);
  });
  origin.listen(0, '127.0.0.1');
  await once(origin, 'listening');
  originUrl = `http://127.0.0.1:${(origin.address() as AddressInfo).port}`;
  proxy = await startStickyport(
    { Rotation: { BodyScanKiB: 16, Rules: [{ Name: 'captcha', When: { BodyContains: MARKER }, Cooldown: 0 }] }, Logging: { Level: 'warn' } },
    { portCount: 1 },
  );
});
afterAll(async () => {
  await proxy?.stop();
  await new Promise<void>((resolve) => origin.close(() => resolve()));
});

it('a marker at the top of a big gzipped page rotates the port, every time', async () => {
  const [port] = proxy.ports as [number];
  for (let round = 0; round < 5; round++) {
    const before = (await apiJson<{ session_id: string }>(port, '/session/')).session_id;
    const rotated = new Promise<unknown>((resolve) => {
      const off = proxy.app.events.on((event) => {
        if (event.type === 'rule-rotation') {
          off();
          resolve(event);
        }
      });
    });
    // The rule's verdict on a compressed body comes after the answer: wait for its event (the
    // 2 s only bound a failing run).
    const answer = await request(port, `${originUrl}/page`, { headers: { 'accept-encoding': 'gzip' } });
    expect(answer.status).toBe(200);
    const outcome = await Promise.race([rotated, new Promise((resolve) => setTimeout(() => resolve('no rotation within 2 s'), 2_000))]);
    expect(outcome).toMatchObject({ type: 'rule-rotation', previousId: before });
  }
});
