import type net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StickyportError } from '../../src/errors.js';
import { SocksRoute } from '../../src/upstream/socks-route.js';
import { startTcpServer, type TcpServer } from '../helpers/tcp-server.js';

// What a SOCKS upstream answers to the greeting, or in place of its final reply, named as what
// it is. Before, a refusal of every login method, a reply of another version and garbage were
// all "host unreachable" (UPSTREAM_UNREACHABLE), and a final reply with version 4 and code 0 was
// "refused the tunnel (SOCKS5 reply Granted)". Then garbage, or an HTTP answer, in place of the
// final reply was read as a SOCKS5 refusal "of an unknown code" (UPSTREAM_STATUS): the version
// byte was judged only beside a success code.

const text = (value: string): number[] => [...Buffer.from(value, 'latin1')];

/** What the upstream writes, one answer per chunk it receives, by case. */
const SCRIPTS: Record<string, { version: 4 | 5; login?: boolean; answers: number[][] }> = {
  none: { version: 5, answers: [[5, 0xff]] },
  v4: { version: 5, answers: [[4, 0]] },
  unknown: { version: 5, answers: [[5, 0x09]] },
  garbage: { version: 5, answers: [[0x48, 0x54]] },
  final4: { version: 5, answers: [[5, 0], [4, 0, 0, 1, 0, 0, 0, 0, 0, 0]] },
  finalGarbage: { version: 5, answers: [[5, 0], text('garbage!garbage!')] },
  finalHttp: { version: 5, answers: [[5, 0], text('HTTP/1.1 200 OK\r\n\r\n')] },
  finalGarbageAfterLogin: { version: 5, login: true, answers: [[5, 2], [1, 0], text('garbage!garbage!')] },
  finalUnknownCode: { version: 5, answers: [[5, 0], [5, 0x42, 0, 1, 0, 0, 0, 0, 0, 0]] },
  socks4Http: { version: 4, answers: [text('HTTP/1.1 200 OK\r\n\r\n')] },
  socks4Refused: { version: 4, answers: [[0, 0x5b, 0, 0, 0, 0, 0, 0]] },
  // Version 4 where SOCKS4 has 0: some servers send it, and their grants are taken.
  socks4RefusedAsVersion4: { version: 4, answers: [[4, 0x5b, 0, 0, 0, 0, 0, 0]] },
};

let server: TcpServer;
let script: (typeof SCRIPTS)[string];
beforeAll(async () => {
  server = await startTcpServer((socket: net.Socket) => {
    let stage = 0;
    socket.on('data', () => {
      const answer = script.answers[stage++];
      if (answer) socket.write(Buffer.from(answer));
    });
  });
});
afterAll(() => server.close());

describe.each([
  ['a tunnel bound to its session', () => true],
  ['a plain request\'s connection', undefined],
])('%s', (_kind, stillCarries) => {
  it.each([
    ['none', 'refuses every login method offered (0xFF)', 'UPSTREAM_AUTH', /accepts none of the SOCKS5 login methods/],
    ['v4', 'answers the greeting as SOCKS4', 'UPSTREAM_PROTOCOL', /not SOCKS/],
    ['unknown', 'picks a login method nobody offered', 'UPSTREAM_PROTOCOL', /not SOCKS/],
    ['garbage', 'answers with garbage', 'UPSTREAM_PROTOCOL', /not SOCKS/],
    ['final4', 'answers the request with a version-4 "granted"', 'UPSTREAM_PROTOCOL', /not SOCKS \(its reply to the request begins 04 00/],
    ['finalGarbage', 'answers the request with garbage', 'UPSTREAM_PROTOCOL', /not SOCKS \(its reply to the request begins 67 61 72 62/],
    ['finalHttp', 'answers the request with an HTTP answer', 'UPSTREAM_PROTOCOL', /not SOCKS \(its reply to the request begins 48 54 54 50/],
    ['finalGarbageAfterLogin', 'takes the login, then answers the request with garbage', 'UPSTREAM_PROTOCOL', /not SOCKS/],
    ['finalUnknownCode', 'answers the request with a SOCKS5 reply code that has no name', 'UPSTREAM_STATUS', /SOCKS5 reply of an unknown code/],
    ['socks4Http', 'is SOCKS4 and answers with an HTTP answer', 'UPSTREAM_PROTOCOL', /not SOCKS/],
    ['socks4Refused', 'is SOCKS4 and refuses (0x5B)', 'UPSTREAM_STATUS', /refused/],
    ['socks4RefusedAsVersion4', 'is SOCKS4 and refuses with a reply of version 4', 'UPSTREAM_STATUS', /refused/],
  ])('a SOCKS upstream that %s: %s', async (name, _what, code, message) => {
    script = SCRIPTS[name]!;
    const login = script.login ? { username: 'user', password: 'secret' } : { username: '', password: '' };
    const protocol = script.version === 4 ? 'socks4a:' : 'socks5h:';
    const route = new SocksRoute('id', { protocol, hostname: '127.0.0.1', port: server.port, ...login }, { connectTimeoutMs: 5_000, responseTimeoutMs: 5_000, poolIdleTimeoutMs: 1_000 });
    try {
      const failure = await route.openTunnel('example.com', 443, stillCarries).then(() => undefined, (error: unknown) => error);
      expect(failure).toBeInstanceOf(StickyportError);
      expect(failure).toMatchObject({ code, message: expect.stringMatching(message) });
    } finally {
      route.destroy();
    }
  });
});
