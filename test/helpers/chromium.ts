import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import puppeteer, { type Browser } from 'puppeteer-core';
import { CHROMIUM } from './external-clients.js';

/**
 * Chromium's own background traffic off (updates, sync, time and reliability checks, pings) and
 * every name lookup failing except 127.0.0.1: nothing a test runs leaves the machine.
 */
export const QUIET_CHROMIUM = [
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-features=NetworkTimeServiceQuerying',
  '--disable-domain-reliability',
  '--no-pings',
  '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1',
];

/** Headless Chromium on a fresh profile with QUIET_CHROMIUM and `args`, closed and its profile removed after `use`. */
export async function withChromium<T>(args: readonly string[], use: (browser: Browser) => Promise<T>): Promise<T> {
  const profile = mkdtempSync(path.join(tmpdir(), 'stickyport-chromium-'));
  let browser: Browser | undefined;
  try {
    browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, userDataDir: profile, args: [...QUIET_CHROMIUM, ...args], timeout: 30_000 });
    return await use(browser);
  } finally {
    await browser?.close();
    rmSync(profile, { recursive: true, force: true });
  }
}
