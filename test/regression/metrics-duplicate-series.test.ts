import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { logged, startWithAdmin } from '../helpers/admin.js';
import { request } from '../helpers/client.js';
import { eventually } from '../helpers/eventually.js';
import { freePort } from '../helpers/ports.js';

// The request counter was keyed by the exact status but labelled by its class: answers 200, 201
// and 202 made three series with the same name and labels, which Prometheus rejects as
// duplicates (or keeps one of, losing the others' counts).

/** An origin that answers the status its path names: GET /404 -> 404. */
let origin: http.Server;
let originPort: number;
beforeAll(async () => {
  origin = http.createServer((req, res) => {
    res.writeHead(Number(req.url!.slice(1)) || 200, { 'content-length': 0 });
    res.end();
  });
  await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
  originPort = (origin.address() as AddressInfo).port;
});
afterAll(() => new Promise<void>((resolve) => origin.close(() => resolve())));

/** Each sample line of Prometheus text split into its series (name and labels) and value. */
function samples(text: string): Array<{ series: string; value: number }> {
  return text
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const cut = line.lastIndexOf(' ');
      return { series: line.slice(0, cut), value: Number(line.slice(cut + 1)) };
    });
}

it('every series on /metrics appears once, whatever statuses and outcomes were counted', async () => {
  const proxy = await startWithAdmin({}, { portCount: 1 });
  try {
    const [port] = proxy.ports as [number];
    const statuses = [200, 201, 202, 204, 301, 302, 304, 400, 404, 410, 500, 502, 503];
    for (const status of statuses) expect((await request(port, `http://127.0.0.1:${originPort}/${status}`)).status).toBe(status);
    // An outcome other than OK, twice.
    const closed = await freePort();
    for (const path of ['/', '/again']) expect((await request(port, `http://127.0.0.1:${closed}${path}`)).status).toBe(502);
    const total = statuses.length + 2;
    await eventually(() => logged(proxy.logs, 'request completed').length >= total, `${total} records`);

    const { text } = await proxy.admin.get('/metrics');
    const all = samples(text);
    const series = all.map((sample) => sample.series);
    expect(series.filter((name, i) => series.indexOf(name) !== i)).toEqual([]);
    // The answers of each class are summed into one series.
    const count = (labels: string): number | undefined =>
      all.find((sample) => sample.series === `stickyport_requests_total{mapping="default",${labels}}`)?.value;
    expect(count('kind="http",outcome="OK",status_class="2xx"')).toBe(4);
    expect(count('kind="http",outcome="OK",status_class="3xx"')).toBe(3);
    expect(count('kind="http",outcome="OK",status_class="4xx"')).toBe(3);
    expect(count('kind="http",outcome="OK",status_class="5xx"')).toBe(3);
    expect(count('kind="http",outcome="UPSTREAM_REFUSED",status_class="5xx"')).toBe(2);
  } finally {
    await proxy.stop();
  }
});
