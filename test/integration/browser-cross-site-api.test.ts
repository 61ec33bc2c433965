import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { apiJson } from '../helpers/client.js';
import { withChromium } from '../helpers/chromium.js';
import { describeWith } from '../helpers/external-clients.js';
import { startStickyport, type RunningProxy } from '../helpers/stickyport.js';

// A page seen through a port, in a real browser, tries to rotate the port through the session
// API (images and a no-cors fetch to http://portmapper/...): every such call is a 403 and the
// session stays. The same browser typing the API's address gets its answer (the control: the
// browser's requests do reach the API).
// Chromium sends loopback hosts around its proxy unless told not to.
const FLAGS = ['--disable-quic', '--proxy-bypass-list=<-loopback>'];

const PAGE = `<!doctype html><title>loading</title>
<img src="http://portmapper/session/new"><img src="http://portmapper/session/reset">
<script>
  const tries = [
    fetch('http://portmapper/session/new', { mode: 'no-cors' }).catch(() => undefined),
    ...[...document.images].map((image) => new Promise((resolve) => { image.onload = image.onerror = resolve; })),
  ];
  Promise.all(tries).then(() => { document.title = 'done'; });
</script>`;

let origin: http.Server;
let proxy: RunningProxy;

beforeAll(async () => {
  origin = http.createServer((_req, res) => {
    res.setHeader('content-type', 'text/html; charset=utf-8');
    res.end(PAGE);
  });
  origin.listen(0, '127.0.0.1');
  await once(origin, 'listening');
  // Direct, the page's loopback origin allowed: nothing leaves 127.0.0.1.
  proxy = await startStickyport({ Listen: { AllowPrivateTargets: true }, SessionAPI: { Enabled: true } }, { portCount: 1 });
});

afterAll(async () => {
  await proxy?.stop();
  origin?.closeAllConnections();
  origin?.close();
});

describeWith('chromium', 'a web page in Chromium against the session API of its port', () => {
  it("cannot rotate the port; the browser's typed address can", async () => {
    const port = proxy.ports[0]!;
    const { port: originPort } = origin.address() as AddressInfo;
    const { session_id: before } = await apiJson<{ session_id: string }>(port, '/session/');
    const apiStatuses: number[] = [];
    let apiRequests = 0;
    await withChromium([...FLAGS, `--proxy-server=http://127.0.0.1:${port}`], async (browser) => {
      const page = await browser.newPage();
      page.on('request', (sent) => {
        if (sent.url().startsWith('http://portmapper/')) apiRequests++;
      });
      page.on('response', (response) => {
        if (response.url().startsWith('http://portmapper/')) apiStatuses.push(response.status());
      });
      await page.goto(`http://127.0.0.1:${originPort}/`, { waitUntil: 'load', timeout: 20_000 });
      await page.waitForFunction("document.title === 'done'", { timeout: 10_000 });
      // The page's three calls went out and were refused (Chromium hides the images' answers,
      // JSON, from the page: ORB); the session is the same.
      expect(apiRequests).toBe(3);
      expect(apiStatuses).toContain(403);
      expect(apiStatuses.filter((status) => status !== 403)).toEqual([]);
      expect((await apiJson<{ session_id: string }>(port, '/session/')).session_id).toBe(before);
      // Typed in the address bar: answered, and the port rotated.
      const typed = await page.goto('http://portmapper/session/new', { waitUntil: 'load', timeout: 10_000 });
      expect(typed?.status()).toBe(200);
      const { session_id: typedId } = JSON.parse((await typed!.text())) as { session_id: string };
      expect(typedId).not.toBe(before);
      expect((await apiJson<{ session_id: string }>(port, '/session/')).session_id).toBe(typedId);
    });
  }, 60_000);
});
