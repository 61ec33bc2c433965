import { expect, it } from 'vitest';
import { eventsClient, logged, startWithAdmin } from '../helpers/admin.js';
import { request } from '../helpers/client.js';
import { freePort } from '../helpers/ports.js';

// A proxy client could cut the operators' live view: the page's stream carries the last 100
// requests on opening and batches of up to 100 after, each with its whole path, so 100 requests
// with 15 KB paths made 1.5 MB events, and every page that opened was dropped at once as "not
// reading" (an adversarial pass: 5 of 5 reading streams, on every reconnect). A path or host is
// now at most 4 KiB on the page, and the byte bound judges what waited before each event.

const DROPPED = 'event stream client dropped: it does not read what it is sent';
const LONG_PATH = `/${'q'.repeat(15_000)}`;
const REQUESTS = 100;

it('pages opened after 100 failed requests with 15 KB paths get them, each path cut to 4 KiB, and are kept', async () => {
  const proxy = await startWithAdmin({ Logging: { Requests: false } }, { portCount: 1 });
  const early = eventsClient(proxy.admin.port);
  try {
    await early.next('summary');
    const [port] = proxy.ports as [number];
    // Refused targets: the page's ring keeps every failure (of successes, one per 5 ms).
    const closed = await freePort();
    let sent = 0;
    const worker = async (): Promise<void> => {
      while (sent < REQUESTS) {
        sent++;
        expect((await request(port, `http://127.0.0.1:${closed}${LONG_PATH}`)).status).toBe(502);
      }
    };
    await Promise.all(Array.from({ length: 10 }, worker));

    const late = eventsClient(proxy.admin.port);
    try {
      const opening = JSON.parse(await late.next('requests')) as { requests: Array<{ path: string }> };
      expect(opening.requests).toHaveLength(REQUESTS);
      for (const { path } of opening.requests) {
        expect(path).toHaveLength(4 * 1024 + 1);
        expect(path.startsWith('/qqq')).toBe(true);
        expect(path.endsWith('…')).toBe(true);
      }
      // Both still receive: a summary comes every second to each open stream.
      await Promise.all([late.next('summary'), early.next('summary')]);
      expect(logged(proxy.logs, DROPPED)).toEqual([]);
    } finally {
      late.close();
    }
  } finally {
    early.close();
    await proxy.stop();
  }
}, 30_000);
