import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawClient, socks5Connect } from '../helpers/socks-client.js';
import { startStack, type Stack } from '../helpers/stack.js';

// One request in, one answer out, even when a request is answered before its body is read
// (the API's 405 to a POST, an upstream's early answer) and that body then turns out not to
// parse. The answer given stands; the broken bytes get no second answer, only the close.
// Before, a 400 followed the first answer, on HTTP and inside a SOCKS connection to the API.

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({}, { portCount: 2 });
});

afterAll(async () => {
  await stack?.stop();
});

const statuses = (bytes: Buffer): string[] => [...bytes.toString('latin1').matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => m[1]!);

/** Broken chunk framing, one kind per case: a size that is no hex number, a chunk longer than its size, a bare LF. */
const BROKEN = ['zz\r\n', '2\r\nhello\r\n', '5\nhello\n'];

describe('a request answered before its body is read, whose body then does not parse', () => {
  const cases: Array<[string, () => string, number]> = [
    ['the session API refusing a POST (405)', () => 'POST http://portmapper/session/new HTTP/1.1\r\nHost: portmapper\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n', 405],
    [
      'an origin answering before it reads the body (200)',
      () => `POST ${stack.origin.url}/early HTTP/1.1\r\nHost: 127.0.0.1:${stack.origin.port}\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n`,
      200,
    ],
  ];

  for (const [name, request, status] of cases) {
    it(`${name}: that answer only, then the close, for each kind of broken chunk`, async () => {
      const wrong: string[] = [];
      for (const broken of BROKEN) {
        const client = await RawClient.connect(stack.proxy.ports[0]!);
        client.send(request());
        const answer = await client.readAnswer();
        client.send(broken);
        const rest = await client.untilClosed();
        if (answer.status !== status || statuses(rest).length > 0) {
          wrong.push(`${JSON.stringify(broken)}: ${answer.status}, then ${JSON.stringify(rest.toString('latin1').slice(0, 80))}`);
        }
        client.destroy();
      }
      expect(wrong).toEqual([]);
    });
  }

  it('inside a SOCKS connection to the API: the 405 only, then the close', async () => {
    const wrong: string[] = [];
    for (const broken of BROKEN) {
      const { code, client } = await socks5Connect(stack.proxy.ports[1]!, { host: 'portmapper', port: 80 });
      expect(code).toBe(0);
      client.send('POST /session/new HTTP/1.1\r\nHost: portmapper\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n');
      const answer = await client.readAnswer();
      client.send(broken);
      const rest = await client.untilClosed();
      if (answer.status !== 405 || statuses(rest).length > 0) wrong.push(`${JSON.stringify(broken)}: ${answer.status}, then ${JSON.stringify(rest.toString('latin1').slice(0, 80))}`);
      client.destroy();
    }
    expect(wrong).toEqual([]);
  });

  it('a body that breaks before its answer still gets its one 400, then the close', async () => {
    const client = await RawClient.connect(stack.proxy.ports[0]!);
    // /count answers only once it has read the whole body: the break comes first.
    client.send(`POST ${stack.origin.url}/count HTTP/1.1\r\nHost: 127.0.0.1:${stack.origin.port}\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n`);
    const answer = await client.readAnswer();
    expect(answer.status).toBe(400);
    expect(statuses(await client.untilClosed())).toEqual([]);
    client.destroy();
  });

  it('the port keeps serving afterwards', async () => {
    const client = await RawClient.connect(stack.proxy.ports[0]!);
    client.send('GET http://portmapper/session/ HTTP/1.1\r\nHost: portmapper\r\n\r\n');
    expect((await client.readAnswer()).status).toBe(200);
    client.destroy();
  });
});
