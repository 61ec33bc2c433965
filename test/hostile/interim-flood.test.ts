import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_INTERIM_ANSWERS } from '../../src/upstream/connect-handshake.js';
import { request, openTunnel } from '../helpers/client.js';
import { startHostileServer, type HostileServer } from '../helpers/hostile-server.js';
import { startStickyport, type RunningProxy } from '../helpers/stickyport.js';

// An upstream that sends interim (1xx) answers without end kept a core busy until the upstream
// timeout (an adversarial pass: 11.5 s of CPU in 12 s for one request, 10 of them slowed every
// other port's answers to 200 ms), and each interim answer may carry as many fields as an answer.
// After MAX_INTERIM_ANSWERS of them the request fails with a 502, at once.

let hostile: HostileServer;
let proxy: RunningProxy;

beforeAll(async () => {
  hostile = await startHostileServer();
  // Timeouts far beyond the test's: a 502 here comes from the count, not from a timer.
  proxy = await startStickyport(
    { Upstream: { Url: `http://customer-acme-session-{session}:secret@${hostile.authority}`, ResponseTimeout: '60s', ConnectTimeout: '60s' } },
    { portCount: 1 },
  );
});
afterAll(async () => {
  await proxy?.stop();
  await hostile?.close();
});

const interim = (count: number, line = 'HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n'): string => line.repeat(count);
const OK = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';
const CONNECTED = 'HTTP/1.1 200 Connection established\r\n\r\n';

describe('interim answers from the upstream', () => {
  it(`${MAX_INTERIM_ANSWERS} of them, then the answer: relayed`, async () => {
    hostile.answer('few', { bytes: [interim(MAX_INTERIM_ANSWERS), OK], after: 'close' });
    const answer = await request(proxy.ports[0]!, 'http://origin.example/case/few');
    expect({ status: answer.status, body: answer.body }).toEqual({ status: 200, body: 'ok' });
  });

  it.each([
    ['one too many', interim(MAX_INTERIM_ANSWERS + 1) + OK],
    ['thousands, each with many fields', interim(5_000, `HTTP/1.1 103 Early Hints\r\n${'a: b\r\n'.repeat(200)}\r\n`)],
  ])('%s: 502 UPSTREAM_PROTOCOL at once', async (_name, bytes) => {
    hostile.answer('many', { bytes: [bytes], after: 'hold' });
    const answer = await request(proxy.ports[0]!, 'http://origin.example/case/many');
    expect(answer.status).toBe(502);
    expect(answer.headers['x-stickyport-error']).toBe('UPSTREAM_PROTOCOL');
    expect(answer.body).toMatch(/interim/);
  });

  it(`to a CONNECT: ${MAX_INTERIM_ANSWERS} then 200 opens the tunnel, one more is a 502`, async () => {
    hostile.answer('tfew', { bytes: [interim(MAX_INTERIM_ANSWERS, 'HTTP/1.1 100 Continue\r\n\r\n') + CONNECTED], after: 'hold' });
    const opened = await openTunnel(proxy.ports[0]!, `tfew.case:443`);
    opened.socket.destroy();
    expect(opened.status).toBe(200);
    hostile.answer('tmany', { bytes: [interim(MAX_INTERIM_ANSWERS + 1, 'HTTP/1.1 100 Continue\r\n\r\n') + CONNECTED], after: 'hold' });
    const refused = await openTunnel(proxy.ports[0]!, `tmany.case:443`);
    refused.socket.destroy();
    expect(refused.status).toBe(502);
    expect(refused.head).toMatch(/interim/);
  });
});
