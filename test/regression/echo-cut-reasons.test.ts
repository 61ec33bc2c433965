import { describe, expect, it } from 'vitest';
import { logged } from '../helpers/admin.js';
import { request } from '../helpers/client.js';
import { eventually } from '../helpers/eventually.js';
import { behindHostileUpstream, type HostileAnswer } from '../helpers/hostile-server.js';

// An echo answer cut after its head was reported as if nothing had come: "closed the
// connection before answering". The identity check, and the request log for relayed answers,
// now say the answer broke off, and a body short of its Content-Length at a FIN is a cut
// (UPSTREAM_RESET) rather than "not valid HTTP" (llhttp's end-of-stream state error).

const CASES: Record<string, { answer: HostileAnswer; message: RegExp }> = {
  'short-body-fin': {
    answer: { bytes: ['HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n203.0.113.9'], after: 'close', gapMs: 50 },
    message: /broke off before a complete answer/,
  },
  'short-body-reset': {
    answer: { bytes: ['HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n203.0.113.9'], after: 'reset', gapMs: 50 },
    message: /reset the connection before its answer was complete/,
  },
  'no-length-reset': {
    answer: { bytes: ['HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n203.0.113.9'], after: 'reset', gapMs: 50 },
    message: /reset the connection before its answer was complete/,
  },
  'no-head-reset': {
    answer: { bytes: ['HTTP/1.1 200 OK\r\nContent-'], after: 'reset', gapMs: 50 },
    message: /closed the connection before answering/,
  },
};

const stack = behindHostileUpstream({ Identity: { EchoUrl: 'http://echo.test/case/current', Timeout: '3s' } });

describe('an echo answer cut', () => {
  it.each(Object.keys(CASES))('%s: 502 identity_unavailable saying how it was cut', async (key) => {
    stack.hostile.answer('current', CASES[key]!.answer);
    const port = stack.proxy.ports[0]!;
    expect((await request(port, 'http://portmapper/session/new')).status).toBe(200);
    const answer = await request(port, 'http://portmapper/session/?ip=1');
    expect(answer.status).toBe(502);
    expect(JSON.parse(answer.body)).toMatchObject({ error: 'identity_unavailable', message: expect.stringMatching(CASES[key]!.message) });
  });
});

describe('a relayed answer that does not keep alive, cut short of its Content-Length by a FIN', () => {
  it('is logged as UPSTREAM_RESET, not as an answer that is not valid HTTP', async () => {
    stack.hostile.answer('short-relayed', { bytes: ['HTTP/1.1 200 OK\r\nContent-Length: 100\r\nConnection: close\r\n\r\n203.0.113.9'], after: 'close', gapMs: 50 });
    const port = stack.proxy.ports[1]!;
    await request(port, `http://${stack.hostile.authority}/case/short-relayed`).catch(() => undefined);
    const completed = () => logged(stack.proxy.logs, 'request completed').filter((record) => record.port === port);
    await eventually(() => completed().length > 0, 'the request was recorded');
    expect(completed()).toEqual([expect.objectContaining({ status: 200, outcome: 'UPSTREAM_RESET' })]);
  });
});
