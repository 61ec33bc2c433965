import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { IdentityEvent } from '../../src/identity/identity-events.js';
import { request } from '../helpers/client.js';
import { startAddressEcho, startExitProvider, type AddressEcho, type ExitProvider } from '../helpers/exit-provider.js';
import { freePortRange } from '../helpers/ports.js';
import { startStickyport } from '../helpers/stickyport.js';

// A stored exit whose seenAt lies in the future (another instance's clock far ahead, or a
// hand-edited file) was taken as the time of the last check: `now - checkedAt` stayed negative,
// so Identity.CheckEvery never checked that session again, and a drift went unseen for good.

let provider: ExitProvider;
let echo: AddressEcho;
beforeAll(async () => {
  [provider, echo] = await Promise.all([startExitProvider(), startAddressEcho()]);
});
afterAll(async () => {
  await Promise.all([provider.close(), echo.close()]);
});

it('a stored exit seen "in the future" is still checked every Identity.CheckEvery', async () => {
  const port = await freePortRange(1);
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'stickyport-future-')), 'sessions.json');
  const now = Date.now();
  const stored = { id: 'abcdefgh', port, createdAt: now, expiresAt: now + 600_000, exit: { ip: '198.51.100.9', seenAt: now + 10 * 365 * 86_400_000 } };
  writeFileSync(file, JSON.stringify({ version: 1, sessions: [stored] }));
  const proxy = await startStickyport(
    {
      Upstream: { Url: `http://customer-acme-session-{session}:secret@127.0.0.1:${provider.port}` },
      Identity: { EchoUrl: `${echo.url}/ip`, CheckEvery: '150ms', OnDrift: 'log' },
      Session: { IdLength: 8, IdAlphabet: 'abcdefghijklmnopqrstuvwxyz' },
      SessionStore: { Type: 'file', Path: file },
    },
    { portCount: 1, startPort: port },
  );
  let off = (): void => undefined;
  const checked = new Promise<IdentityEvent>((resolve) => {
    off = proxy.app.events.on((event) => event.type === 'identity-check' && event.reason === 'periodic' && resolve(event));
  });
  let done = false;
  void checked.then(() => (done = true));
  try {
    // Traffic through the port, bounded: 60 requests 50 ms apart is 20 periods of 150 ms.
    for (let i = 0; i < 60 && !done; i++) {
      await request(port, `${echo.url}/page`);
      await Promise.race([checked, new Promise((resolve) => setTimeout(resolve, 50))]);
    }
    expect(done).toBe(true);
    expect(await checked).toMatchObject({ sessionId: 'abcdefgh', ok: true });
  } finally {
    off();
    await proxy.stop();
  }
});
