import type net from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { StickyportError } from '../../src/errors.js';
import { SocksRoute } from '../../src/upstream/socks-route.js';
import { startTcpServer, type TcpServer } from '../helpers/tcp-server.js';

// What a SOCKS5 upstream answers to the greeting, or in place of its final reply, named as what
// it is. Before, a refusal of every login method, a reply of another version and garbage were
// all "host unreachable" (UPSTREAM_UNREACHABLE), and a final reply with version 4 and code 0 was
// "refused the tunnel (SOCKS5 reply Granted)".

/** Greeting answers (and, after [5, 0], the final reply), by the user name the route logs in with. */
const SCRIPTS: Record<string, { greeting: number[]; final?: number[] }> = {
  none: { greeting: [5, 0xff] },
  v4: { greeting: [4, 0] },
  unknown: { greeting: [5, 0x09] },
  garbage: { greeting: [0x48, 0x54] },
  final4: { greeting: [5, 0], final: [4, 0, 0, 1, 0, 0, 0, 0, 0, 0] },
};

let server: TcpServer;
let script: { greeting: number[]; final?: number[] };
beforeAll(async () => {
  server = await startTcpServer((socket: net.Socket) => {
    let stage = 0;
    socket.on('data', () => {
      if (stage++ === 0) socket.write(Buffer.from(script.greeting));
      else if (script.final) socket.write(Buffer.from(script.final));
    });
  });
});
afterAll(() => server.close());

it.each([
  ['none', 'refuses every login method offered (0xFF)', 'UPSTREAM_AUTH', /accepts none of the SOCKS5 login methods/],
  ['v4', 'answers the greeting as SOCKS4', 'UPSTREAM_PROTOCOL', /not SOCKS/],
  ['unknown', 'picks a login method nobody offered', 'UPSTREAM_PROTOCOL', /not SOCKS/],
  ['garbage', 'answers with garbage', 'UPSTREAM_PROTOCOL', /not SOCKS/],
  ['final4', 'answers the request with a version-4 "granted"', 'UPSTREAM_PROTOCOL', /another SOCKS version/],
])('a SOCKS5 upstream that %s: %s', async (name, _what, code, message) => {
  script = SCRIPTS[name]!;
  const route = new SocksRoute('id', { protocol: 'socks5h:', hostname: '127.0.0.1', port: server.port, username: '', password: '' }, { connectTimeoutMs: 5_000, responseTimeoutMs: 5_000, poolIdleTimeoutMs: 1_000 });
  try {
    const failure = await route.openTunnel('example.com', 443).then(() => undefined, (error: unknown) => error);
    expect(failure).toBeInstanceOf(StickyportError);
    expect(failure).toMatchObject({ code, message: expect.stringMatching(message) });
  } finally {
    route.destroy();
  }
});
