import { once } from 'node:events';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { apiJson } from '../helpers/client.js';
import { withChromium } from '../helpers/chromium.js';
import { describeWith } from '../helpers/external-clients.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { selfSigned } from '../helpers/self-signed.js';
import { startStickyport, upstreamUrl, type RunningProxy } from '../helpers/stickyport.js';

// Chromium headless with --proxy-server=socks5://127.0.0.1:P loads an HTTPS page (and a fetch
// it makes) from a loopback origin through the port's session. Chromium sends names to a
// SOCKS5 proxy; the host resolver rules make any local DNS lookup fail, so the page can only
// load if the name went through unresolved.
// Chromium sends loopback hosts around its proxy unless told not to; the certificate is self-signed.
const FLAGS = ['--disable-quic', '--ignore-certificate-errors', '--proxy-bypass-list=<-loopback>'];

const PAGE = `<!doctype html><title>stickyport socks test</title><p id="data">waiting</p>
<script>fetch('/data').then((r) => r.text()).then((t) => { document.getElementById('data').textContent = t; });</script>`;

let origin: https.Server;
let upstream: RecordingUpstream;
let proxy: RunningProxy;

beforeAll(async () => {
  const { key, cert } = selfSigned();
  origin = https.createServer({ key, cert }, (req, res) => {
    if (req.url === '/data') return res.end('fetched through socks');
    res.setHeader('content-type', 'text/html; charset=utf-8');
    res.end(PAGE);
  });
  origin.listen(0, '127.0.0.1');
  await once(origin, 'listening');
  const { port: originPort } = origin.address() as AddressInfo;
  // Whatever Chromium asks for besides the page (a network time query, an update check) is
  // refused here: nothing leaves 127.0.0.1.
  upstream = await startRecordingUpstream('secret', undefined, (target) => target === `localhost:${originPort}`);
  proxy = await startStickyport({ Upstream: { Url: upstreamUrl(upstream.port) } }, { portCount: 1 });
});

afterAll(async () => {
  await proxy?.stop();
  await upstream?.close();
  origin?.closeAllConnections();
  origin?.close();
});

describeWith('chromium', 'Chromium headless as a SOCKS5 client', () => {
  it('loads an HTTPS page and its fetch through the port session', async () => {
    const port = proxy.ports[0]!;
    const { port: originPort } = origin.address() as AddressInfo;
    await withChromium([...FLAGS, `--proxy-server=socks5://127.0.0.1:${port}`], async (browser) => {
      const page = await browser.newPage();
      const response = await page.goto(`https://localhost:${originPort}/`, { waitUntil: 'load', timeout: 20_000 });
      expect(response?.status()).toBe(200);
      expect(await page.title()).toBe('stickyport socks test');
      // Runs in the page: `document` is the browser's (this file is typed for Node).
      await page.waitForFunction("document.getElementById('data')?.textContent !== 'waiting'", { timeout: 10_000 });
      expect(await page.$eval('#data', (element) => element.textContent)).toBe('fetched through socks');
    });
    const { session_id: id } = await apiJson<{ session_id: string }>(port, '/session/');
    const connects = upstream.seen.filter((seen) => seen.target === `localhost:${originPort}`);
    expect(connects.length).toBeGreaterThanOrEqual(1);
    for (const seen of connects) expect(seen).toMatchObject({ kind: 'connect', session: id });
    const others = upstream.seen.filter((seen) => !connects.includes(seen)).map((seen) => seen.target);
    // Chromium's own background requests (update and account checks) met the refusing upstream.
    for (const target of others) expect(target).not.toMatch(/^(localhost|127\.)/);
  }, 60_000);
});
