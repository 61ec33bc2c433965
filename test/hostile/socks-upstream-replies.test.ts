import type net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiJson } from '../helpers/client.js';
import { rawExchange, statusOf } from '../helpers/raw.js';
import { socks4Connect, socks5Connect } from '../helpers/socks-client.js';
import { startStickyport, type RunningProxy } from '../helpers/stickyport.js';
import { startTcpServer, type TcpServer } from '../helpers/tcp-server.js';

// A hostile SOCKS5 upstream: what it answers to a CONNECT is chosen by the destination port.
// Each failure must reach the client as its own code (HTTP status and X-Stickyport-Error, SOCKS
// reply), promptly. Before, every failure of a SOCKS upstream was UPSTREAM_UNREACHABLE (the
// library's errors were told by a `name` it never sets), and a reply with an unknown address
// type passed for a success whose bytes then reached the client as tunnel data.

const REPLIES: Record<number, Buffer | 'silent' | 'truncated'> = {
  // Unknown address types 7 and 0, with some bytes after them.
  1001: Buffer.from([5, 0, 0, 7, 9, 9, 9, 9, 0, 80]),
  1002: Buffer.from([5, 0, 0, 0, 9, 9, 9, 9, 0, 80]),
  // Reply codes: refused, host unreachable, TTL expired, general failure.
  1003: Buffer.from([5, 5, 0, 1, 0, 0, 0, 0, 0, 0]),
  1004: Buffer.from([5, 4, 0, 1, 0, 0, 0, 0, 0, 0]),
  1005: Buffer.from([5, 6, 0, 1, 0, 0, 0, 0, 0, 0]),
  1006: Buffer.from([5, 1, 0, 1, 0, 0, 0, 0, 0, 0]),
  // A code SOCKS5 does not define.
  1009: Buffer.from([5, 9, 0, 1, 0, 0, 0, 0, 0, 0]),
  1007: 'truncated',
  1008: 'silent',
};

/** status, X-Stickyport-Error, SOCKS5 reply code, by destination port. */
const EXPECTED: Array<[number, string, number, string, number]> = [
  [1001, 'an unknown address type (7)', 502, 'UPSTREAM_PROTOCOL', 0x01],
  [1002, 'an unknown address type (0)', 502, 'UPSTREAM_PROTOCOL', 0x01],
  [1003, 'reply 05, refused', 502, 'UPSTREAM_REFUSED', 0x05],
  [1004, 'reply 04, host unreachable', 502, 'UPSTREAM_UNREACHABLE', 0x04],
  [1005, 'reply 06, TTL expired', 504, 'UPSTREAM_TIMEOUT', 0x06],
  [1006, 'reply 01, general failure', 502, 'UPSTREAM_STATUS', 0x01],
  [1009, 'reply 09, a code SOCKS5 does not define', 502, 'UPSTREAM_STATUS', 0x01],
  [1007, 'half a reply, then FIN', 502, 'UPSTREAM_RESET', 0x01],
  [1008, 'no reply within ConnectTimeout', 504, 'UPSTREAM_TIMEOUT', 0x06],
];

/** A SOCKS5 server that takes any login (or `rejectLogin`: none) and answers each request as REPLIES says. */
function startHostileSocks(rejectLogin = false): Promise<TcpServer> {
  return startTcpServer((socket: net.Socket) => {
    let buffered = Buffer.alloc(0);
    let stage: 'greeting' | 'login' | 'request' | 'done' = 'greeting';
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (stage === 'greeting' && buffered.length >= 2 && buffered.length >= 2 + buffered[1]!) {
        const methods = [...buffered.subarray(2, 2 + buffered[1]!)];
        buffered = buffered.subarray(2 + buffered[1]!);
        stage = methods.includes(2) ? 'login' : 'request';
        socket.write(Buffer.from([5, methods.includes(2) ? 2 : 0]));
      }
      if (stage === 'login' && buffered.length >= 2) {
        const userEnd = 2 + buffered[1]!;
        if (buffered.length < userEnd + 1 || buffered.length < userEnd + 1 + buffered[userEnd]!) return;
        buffered = buffered.subarray(userEnd + 1 + buffered[userEnd]!);
        socket.write(Buffer.from([1, rejectLogin ? 1 : 0]));
        stage = rejectLogin ? 'done' : 'request';
      }
      if (stage === 'request' && buffered.length >= 10 && buffered[3] === 1) {
        stage = 'done';
        const reply = REPLIES[buffered.readUInt16BE(8)];
        if (reply === 'silent') return;
        if (reply === 'truncated') return void socket.end(Buffer.from([5, 0, 0, 1, 127]));
        socket.end(reply ?? Buffer.from([5, 1, 0, 1, 0, 0, 0, 0, 0, 0]));
      }
    });
  });
}

let socks: TcpServer;
let refusing: TcpServer;
let proxy: RunningProxy;
let login: RunningProxy;

beforeAll(async () => {
  [socks, refusing] = await Promise.all([startHostileSocks(), startHostileSocks(true)]);
  const settings = (server: TcpServer) => ({
    Upstream: { Url: `socks5://customer-{session}:secret@127.0.0.1:${server.port}`, ConnectTimeout: '1500ms', ResponseTimeout: '5s' },
    // Shorter than the upstream's timeouts: a SOCKS client waiting for its tunnel is still owed its reply.
    Listen: { IdleTimeout: '700ms' },
    Logging: { Level: 'warn' },
  });
  [proxy, login] = await Promise.all([startStickyport(settings(socks), { portCount: 1 }), startStickyport(settings(refusing), { portCount: 1 })]);
});

afterAll(async () => {
  await Promise.all([proxy?.stop(), login?.stop()]);
  await Promise.all([socks?.close(), refusing?.close()]);
});

/** The status and X-Stickyport-Error of a CONNECT to 127.0.0.1:`target` (or of a plain GET there). */
async function answerTo(port: number, target: number, plain = false): Promise<[number, string]> {
  const line = plain ? `GET http://127.0.0.1:${target}/ HTTP/1.1` : `CONNECT 127.0.0.1:${target} HTTP/1.1`;
  const answer = await rawExchange(port, `${line}\r\nHost: 127.0.0.1:${target}\r\nConnection: close\r\n\r\n`);
  return [statusOf(answer), /\r\nx-stickyport-error: (\S+)/i.exec(answer)?.[1] ?? ''];
}

describe('a hostile SOCKS5 upstream', () => {
  it.each(EXPECTED)('port %i, %s: each client gets its own code, in time', async (target, _name, status, code, reply) => {
    const startedAt = performance.now();
    expect(await answerTo(proxy.ports[0]!, target)).toEqual([status, code]);
    // A plain request through the same upstream: the same failure, not a 504 after ResponseTimeout.
    expect(await answerTo(proxy.ports[0]!, target, true)).toEqual([status, code]);
    const socks5 = await socks5Connect(proxy.ports[0]!, { host: '127.0.0.1', port: target });
    expect({ stage: socks5.stage, code: socks5.code }).toEqual({ stage: 'reply', code: reply });
    // No tunnel bytes after a failure: the connection closes.
    expect((await socks5.client.untilClosed()).length).toBe(0);
    const socks4 = await socks4Connect(proxy.ports[0]!, { host: '127.0.0.1', port: target });
    expect(socks4.code).toBe(0x5b);
    socks4.client.destroy();
    // ConnectTimeout is 1.5 s for each of the four: none waits for ResponseTimeout (5 s).
    expect(performance.now() - startedAt).toBeLessThan(4 * 1_500 + 2_000);
  });

  // A SOCKS5 reply 0x05 is the target refusing, passed on by a working member: any client could
  // ask for a closed port three times and so cool the member down, moving every other port's
  // session (and exit) off it.
  it('a pool member passing on the target\'s refusals is not cooled down: the port keeps its session', async () => {
    const second = await startHostileSocks();
    const pooled = await startStickyport({
      Upstream: {
        Urls: [`socks5://customer-{session}:secret@127.0.0.1:${socks.port}`, `socks5://customer-{session}:secret@127.0.0.1:${second.port}`],
        Cooldown: { Refusals: 2, Within: '30s', For: '60s' },
      },
      SessionAPI: { Enabled: true },
      Logging: { Level: 'warn' },
    }, { portCount: 1 });
    try {
      const port = pooled.ports[0]!;
      const before = (await apiJson<{ session_id: string }>(port, '/session/')).session_id;
      for (let i = 0; i < 4; i++) expect(await answerTo(port, 1003)).toEqual([502, 'UPSTREAM_REFUSED']);
      expect((await apiJson<{ session_id: string }>(port, '/session/')).session_id).toBe(before);
      expect(pooled.logs.join('\n')).not.toContain('cooling down');
    } finally {
      await pooled.stop();
      await second.close();
    }
  });

  it('a login the upstream refuses is UPSTREAM_AUTH (SOCKS5 0x01)', async () => {
    expect(await answerTo(login.ports[0]!, 1006)).toEqual([502, 'UPSTREAM_AUTH']);
    expect(await answerTo(login.ports[0]!, 1006, true)).toEqual([502, 'UPSTREAM_AUTH']);
    const socks5 = await socks5Connect(login.ports[0]!, { host: '127.0.0.1', port: 1006 });
    expect({ stage: socks5.stage, code: socks5.code }).toEqual({ stage: 'reply', code: 0x01 });
    socks5.client.destroy();
  });
});
