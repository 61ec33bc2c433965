/// <reference lib="dom" />
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startWithAdmin, type AdminClient } from '../helpers/admin.js';
import { openTunnel, request } from '../helpers/client.js';
import { QUIET_CHROMIUM } from '../helpers/chromium.js';
import { CHROMIUM, describeWith } from '../helpers/external-clients.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { upstreamUrl, type RunningProxy } from '../helpers/stickyport.js';

// The status page in Debian's Chromium, headless, driven by puppeteer-core: a request made
// through a port appears in the live log, the reset button ends the port's session, the next
// request shows the new one. The screenshot in the README is taken here: set
// STICKYPORT_SCREENSHOT=docs/status-page.png to write it (else it goes to a temporary folder).

// Chromium's own background traffic stays off; every page here is on 127.0.0.1.
const FLAGS = [...QUIET_CHROMIUM, '--hide-scrollbars', '--font-render-hinting=none'];

const PORTS = 250;

let origin: Origin;
let upstream: RecordingUpstream;
let proxy: RunningProxy & { admin: AdminClient };
let browser: Browser | undefined;
let profile: string;

beforeAll(async () => {
  origin = await startOrigin();
  upstream = await startRecordingUpstream('upsecret');
  proxy = await startWithAdmin({ Upstream: { Url: upstreamUrl(upstream.port, 'upsecret') }, Logging: { Level: 'info' } }, { portCount: PORTS });
});

afterAll(async () => {
  await browser?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
  await proxy?.stop();
  await upstream?.close();
  await origin?.close();
});

async function launch(): Promise<Browser> {
  profile = mkdtempSync(path.join(tmpdir(), 'stickyport-chromium-'));
  browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, userDataDir: profile, args: FLAGS, timeout: 30_000 });
  return browser;
}

const sessionCell = (page: Page, port: number): Promise<string> =>
  page.$eval(`#ports tr[data-port="${port}"] td.session`, (td) => td.textContent ?? '');

/** Some traffic, so that the page (and its screenshot) has something to show. */
async function traffic(): Promise<void> {
  const ports = proxy.ports.slice(1, 12);
  for (const [i, port] of ports.entries()) {
    for (let n = 0; n <= i % 4; n++) await request(port, `${origin.url}/bytes/${1_000 + i * 7_919 + n * 1_733}`);
  }
  await request(ports[2]!, `${origin.url}/headers?q=never-shown`);
  upstream.mode = '503';
  await request(ports[5]!, `${origin.url}/`);
  await request(ports[8]!, `${origin.url}/`);
  upstream.mode = 'ok';
  const tunnel = await openTunnel(ports[3]!, `127.0.0.1:${origin.port}`);
  expect(tunnel.status).toBe(200);
}

describeWith('chromium', 'the status page in Chromium headless', () => {
  it('shows a request in the live log, resets the port\'s session with its button, and shows the next one', async () => {
    await traffic();
    const page = await (await launch()).newPage();
    await page.setViewport({ width: 1280, height: 1000 });
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(String(error)));
    page.on('console', (message) => message.type() === 'error' && errors.push(message.text()));
    await page.goto(proxy.admin.url, { waitUntil: 'load', timeout: 20_000 });
    await page.waitForFunction(() => document.getElementById('chip-live')?.textContent === 'live', { timeout: 10_000 });
    await page.waitForFunction((n) => document.querySelectorAll('#ports tbody tr').length === n, { timeout: 10_000 }, 100);
    expect(await page.$eval('#page-info', (el) => el.textContent)).toBe(`1–100 of ${PORTS}`);
    expect(await page.$eval('#mappings tbody', (el) => el.textContent)).toContain(`:***@127.0.0.1:${upstream.port}`);

    // A request through the first port appears in the live log, with its session.
    const port = proxy.ports[0]!;
    await request(port, `${origin.url}/headers?token=never-shown`);
    const first = upstream.seen.at(-1)!.session!;
    await page.waitForSelector(`#log tbody tr[data-port="${port}"][data-session="${first}"]`, { timeout: 10_000 });
    const logRow = await page.$eval(`#log tbody tr[data-port="${port}"]`, (tr) => tr.textContent ?? '');
    expect(logRow).toContain(`127.0.0.1:${origin.port}/headers`);
    expect(logRow).not.toContain('never-shown');
    await page.waitForFunction((p, id) => document.querySelector(`#ports tr[data-port="${p}"] td.session`)?.textContent === id, { timeout: 10_000 }, port, first);

    // Reset: the port has no session; the next request makes a new one, which the row shows.
    await page.click(`#ports button[data-action="reset"][data-port="${port}"]`);
    await page.waitForFunction((p) => document.querySelector(`#ports tr[data-port="${p}"] td.session`)?.textContent === '–', { timeout: 10_000 }, port);
    await request(port, `${origin.url}/`);
    const second = upstream.seen.at(-1)!.session!;
    expect(second).not.toBe(first);
    await page.waitForFunction((p, id) => document.querySelector(`#ports tr[data-port="${p}"] td.session`)?.textContent === id, { timeout: 10_000 }, port, second);

    // New: a new session at once, shown without a request.
    await page.click(`#ports button[data-action="new"][data-port="${port}"]`);
    await page.waitForFunction((p, id) => {
      const text = document.querySelector(`#ports tr[data-port="${p}"] td.session`)?.textContent;
      return text !== id && text !== '–' && text !== undefined;
    }, { timeout: 10_000 }, port, second);
    expect(await sessionCell(page, port)).toBe((await proxy.admin.get(`/api/ports/${port}`)).json.session.id);

    // Totals, and the countdown of a session's expiry.
    await page.waitForFunction(() => Number(document.getElementById('total-requests')?.textContent?.replace(/,/g, '')) >= 20, { timeout: 10_000 });
    expect(await page.$eval(`#ports tr[data-port="${port}"] td.expires`, (td) => td.textContent)).toMatch(/^(9|10)m \d\ds$/);

    // The screenshot: ports that carried traffic, so that the live log fits beside them.
    await page.click('#filter-used');
    await page.waitForFunction(() => document.querySelectorAll('#ports tbody tr').length < 20, { timeout: 10_000 });
    await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
    await page.setViewport({ width: 1280, height: 1240 });
    await page.screenshot({ path: process.env.STICKYPORT_SCREENSHOT ?? path.join(profile, 'status-page.png') });
    expect(errors).toEqual([]);
  }, 90_000);

  it('pages through many ports, finds one, resets a selection, and fits a phone', async () => {
    const page = await browser!.newPage();
    await page.setViewport({ width: 1280, height: 900 });
    await page.goto(proxy.admin.url, { waitUntil: 'load', timeout: 20_000 });
    await page.waitForFunction((n) => document.querySelectorAll('#ports tbody tr').length === n, { timeout: 10_000 }, 100);
    await page.click('#next');
    await page.waitForFunction((n) => document.getElementById('page-info')?.textContent === `101–200 of ${n}`, { timeout: 10_000 }, PORTS);
    const target = proxy.ports[PORTS - 3]!;
    await page.type('#goto', String(target));
    await page.keyboard.press('Enter');
    await page.waitForSelector(`#ports tr[data-port="${target}"]`, { timeout: 10_000 });
    expect(await page.$eval('#page-info', (el) => el.textContent)).toBe(`201–${PORTS} of ${PORTS}`);

    // A selection of two ports with sessions: reset both in one call.
    const [b, c] = [proxy.ports[1]!, proxy.ports[2]!];
    for (const port of [b, c]) await request(port, `${origin.url}/`);
    await page.$eval('#goto', (input) => ((input as HTMLInputElement).value = ''));
    await page.type('#goto', String(b));
    await page.keyboard.press('Enter');
    await page.waitForFunction((p) => {
      const text = document.querySelector(`#ports tr[data-port="${p}"] td.session`)?.textContent;
      return text !== undefined && text !== '–';
    }, { timeout: 10_000 }, b);
    for (const port of [b, c]) await page.click(`#ports input[data-pick="${port}"]`);
    expect(await page.$eval('#selected-count', (el) => el.textContent)).toBe('2 selected');
    await page.click('#bulk-reset');
    await page.waitForFunction(() => document.getElementById('notice')?.textContent?.startsWith('Reset: 2 of 2 ports changed'), { timeout: 10_000 });
    for (const port of [b, c]) expect((await proxy.admin.get(`/api/ports/${port}`)).json.session).toBeNull();

    // A phone: nothing wider than the screen but the tables' own scroll areas.
    await page.setViewport({ width: 390, height: 844, isMobile: true, deviceScaleFactor: 2 });
    await page.reload({ waitUntil: 'load' });
    await page.waitForFunction(() => document.querySelectorAll('#ports tbody tr').length > 0, { timeout: 10_000 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await page.close();
  }, 90_000);

  it('asks for the token when the admin server has one, and keeps it in the tab', async () => {
    const guarded = await startWithAdmin({}, { portCount: 2, token: 'tok-browser-123456' });
    try {
      const page = await browser!.newPage();
      await page.goto(guarded.admin.url, { waitUntil: 'load', timeout: 20_000 });
      await page.waitForSelector('#login:not(.hidden)', { timeout: 10_000 });
      await page.type('#token', 'tok-browser-123456');
      await page.click('#login button[type="submit"]');
      await page.waitForFunction(() => document.querySelectorAll('#ports tbody tr').length === 2, { timeout: 10_000 });
      await page.waitForFunction(() => document.getElementById('chip-live')?.textContent === 'live', { timeout: 10_000 });
      await page.close();
    } finally {
      await guarded.stop();
    }
  }, 60_000);
});
