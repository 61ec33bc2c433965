import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiJson, request } from '../helpers/client.js';
import { startStickyport, type RunningProxy } from '../helpers/stickyport.js';

// Any web page seen through a port could rotate it (an adversarial pass: a page with
// <img src="http://portmapper/session/new?country=de">, loaded in Chromium through the port,
// replaced its session and set its parameters), and a browser's cached proxy login would
// authorize the call. The session API no longer answers a request a web page made: browsers mark
// them with Sec-Fetch-Site other than `none`, older ones with Origin or Referer.

let proxy: RunningProxy;
let onPort: RunningProxy;
beforeAll(async () => {
  [proxy, onPort] = await Promise.all([
    startStickyport({ SessionAPI: { Enabled: true } }, { portCount: 1 }),
    // The API on the port itself: a page can reach http://127.0.0.1:PORT/session/new directly.
    startStickyport({ SessionAPI: { Enabled: true, Domain: '' } }, { portCount: 1 }),
  ]);
});
afterAll(async () => {
  await Promise.all([proxy?.stop(), onPort?.stop()]);
});

const MARKED: Array<Record<string, string>> = [
  { 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'no-cors', 'sec-fetch-dest': 'image' },
  { 'sec-fetch-site': 'same-site' },
  { 'sec-fetch-site': 'same-origin', 'sec-fetch-mode': 'cors' },
  { 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'navigate' },
  { origin: 'http://evil.test' },
  { origin: 'null' },
  { referer: 'http://evil.test/page' },
];

for (const [name, via, url] of [
  ['on the virtual host', () => proxy, (path: string) => `http://portmapper${path}`],
  ['on the port itself', () => onPort, (path: string) => path],
] as const) {
  describe(`session API ${name}`, () => {
    for (const path of ['/session/new', '/session/reset', '/session/new?country=de', '/session/']) {
      it.each(MARKED)(`${path} made by a web page (%o): 403, the session unchanged`, async (headers) => {
        const port = via().ports[0]!;
        const before = await apiJson<{ session_id: string }>(port, '/session/', url('') ? 'portmapper' : '');
        const answer = await request(port, url(path), { headers });
        expect(answer.status).toBe(403);
        expect(JSON.parse(answer.body)).toMatchObject({ error: 'cross_site' });
        const after = await apiJson<{ session_id: string }>(port, '/session/', url('') ? 'portmapper' : '');
        expect(after.session_id).toBe(before.session_id);
      });
    }

    it('typed in the address bar (Sec-Fetch-Site: none), or from a script: answered', async () => {
      const port = via().ports[0]!;
      const domain = url('') ? 'portmapper' : '';
      const { session_id: first } = await apiJson<{ session_id: string }>(port, '/session/', domain);
      const typed = await request(port, url('/session/new'), { headers: { 'sec-fetch-site': 'none', 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'document' } });
      expect(typed.status).toBe(200);
      const { session_id: second } = JSON.parse(typed.body) as { session_id: string };
      expect(second).not.toBe(first);
      const scripted = await apiJson<{ session_id: string }>(port, '/session/new', domain);
      expect(scripted.session_id).not.toBe(second);
    });
  });
}
