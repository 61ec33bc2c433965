import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readTunnelToClose } from '../helpers/client.js';
import { startTcpServer, type TcpServer } from '../helpers/tcp-server.js';
import { startStickyport, type RunningProxy } from '../helpers/stickyport.js';

// A SOCKS5 upstream that sends the target's first bytes in the same write as its success
// reply (a target that speaks first, on a fast link). The `socks` library keeps what came with
// the reply and hands it on a turn later, after resuming the socket; what arrived meanwhile must
// not overtake it. The client must get every byte once, in order, then the FIN.

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const SIZES = [0, 10, 60 * 1024, 300 * 1024, 3 * 1024 * 1024];

/** A no-auth SOCKS5 server: CONNECT to port N is answered with success plus SIZES[N % 10] random bytes, then FIN. */
function startSocks(payloads: Map<number, Buffer>): Promise<TcpServer> {
  return startTcpServer((socket) => {
    let buffered = Buffer.alloc(0);
    let stage: 'greeting' | 'request' | 'done' = 'greeting';
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (stage === 'greeting' && buffered.length >= 2 && buffered.length >= 2 + buffered[1]!) {
        buffered = buffered.subarray(2 + buffered[1]!);
        socket.write(Buffer.from([5, 0]));
        stage = 'request';
      }
      if (stage === 'request' && buffered.length >= 10 && buffered[3] === 1) {
        const port = buffered.readUInt16BE(8);
        stage = 'done';
        const payload = payloads.get(port % 2000) ?? Buffer.alloc(0);
        const reply = Buffer.concat([Buffer.from([5, 0, 0, 1, 127, 0, 0, 1, 0, 80]), payload]);
        // Ports 3000+: the same bytes, then a reset instead of a FIN.
        if (port >= 3000) socket.write(reply, () => socket.resetAndDestroy());
        else socket.end(reply);
      }
    });
  });
}


const payloads = new Map<number, Buffer>(SIZES.map((size, i) => [1000 + i, randomBytes(size)]));
let socks: Awaited<ReturnType<typeof startSocks>>;
let proxy: RunningProxy;

beforeAll(async () => {
  socks = await startSocks(payloads);
  proxy = await startStickyport({ Upstream: { Url: `socks5://127.0.0.1:${socks.port}` }, Logging: { Level: 'warn' } }, { portCount: 1 });
});
afterAll(async () => {
  await proxy?.stop();
  await socks?.close();
});

describe('a SOCKS5 upstream that resets right after its reply and some bytes', () => {
  it.each(SIZES.map((size, i) => [size, 3000 + i] as const))('%i bytes then RST: one answer, a close, a prefix of the bytes, no crash', async (_size, targetPort) => {
    const want = payloads.get(targetPort % 2000)!;
    for (let round = 0; round < 20; round++) {
      const { head, data } = await readTunnelToClose(proxy.ports[0]!, `127.0.0.1:${targetPort}`);
      expect(head).toMatch(/^HTTP\/1\.1 (200|502)/);
      if (head.startsWith('HTTP/1.1 200')) expect(sha(data)).toBe(sha(want.subarray(0, data.length)));
    }
  });
});

describe('bytes a SOCKS5 upstream sends with its success reply', () => {
  it.each(SIZES.map((size, i) => [size, 1000 + i] as const))('%i bytes: every byte once, in order, then the end', async (_size, targetPort) => {
    const want = payloads.get(targetPort)!;
    for (let round = 0; round < (want.length < 1024 ? 40 : 5); round++) {
      const { head, data, ended } = await readTunnelToClose(proxy.ports[0]!, `127.0.0.1:${targetPort}`);
      expect(head).toMatch(/^HTTP\/1\.1 200/);
      expect({ length: data.length, sha: sha(data), ended }).toEqual({ length: want.length, sha: sha(want), ended: true });
    }
  });
});
