import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readTunnelToClose } from '../helpers/client.js';
import { startTcpServer, type TcpServer } from '../helpers/tcp-server.js';
import { startStickyport, type RunningProxy } from '../helpers/stickyport.js';

// After an upstream proxy's "200" to a CONNECT, stickyport keeps reading the upstream socket
// (src/upstream/connect-handshake.ts) and holds what comes until the relay takes over. Bytes the
// upstream sends before the client says anything must reach the client exactly once, in order,
// and the upstream's FIN or RST must reach it too.

type Close = 'fin' | 'rst';
interface Case {
  /** Each string/Buffer is one write() after the request head; the first starts with the 200. */
  readonly writes: ReadonlyArray<Buffer>;
  readonly after: Close;
  /** Writes go out one per setImmediate instead of back to back. */
  readonly spaced: boolean;
}

const OK = Buffer.from('HTTP/1.1 200 Connection established\r\n\r\n');
const BIG = randomBytes(4 * 1024 * 1024 + 17);
const SMALL = Buffer.from('hello from the target, before the client spoke\n');
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

const cases: Record<string, Case> = {
  'same-write-fin': { writes: [Buffer.concat([OK, SMALL])], after: 'fin', spaced: false },
  'separate-writes-fin': { writes: [OK, SMALL, SMALL], after: 'fin', spaced: true },
  'big-fin': { writes: [Buffer.concat([OK, BIG])], after: 'fin', spaced: false },
  'big-separate-fin': { writes: [OK, BIG], after: 'fin', spaced: true },
  'only-fin': { writes: [OK], after: 'fin', spaced: false },
  'only-fin-spaced': { writes: [OK], after: 'fin', spaced: true },
  'same-write-rst': { writes: [Buffer.concat([OK, SMALL])], after: 'rst', spaced: false },
  'separate-rst': { writes: [OK, SMALL], after: 'rst', spaced: true },
  'only-rst': { writes: [OK], after: 'rst', spaced: false },
  'big-same-write-rst': { writes: [Buffer.concat([OK, BIG])], after: 'rst', spaced: false },
  'only-rst-spaced': { writes: [OK], after: 'rst', spaced: true },
};

function expected(c: Case): Buffer {
  const all = Buffer.concat(c.writes as Buffer[]);
  return all.subarray(OK.length);
}

/** A raw upstream proxy: answers CONNECT to "<case>:443" with that case's bytes, then FIN or RST. */
let slowRestAt = 0;
let pipeConnectAt = 0;

function startUpstream(): Promise<TcpServer> {
  return startTcpServer((socket) => {
    let head = '';
    const onData = (chunk: Buffer) => {
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      socket.removeListener('data', onData);
      if (head.startsWith('GET http://slowget/')) {
        // Half an answer now, the rest 200 ms later.
        socket.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello');
        setTimeout(() => {
          slowRestAt = performance.now();
          socket.write('world');
        }, 200);
        return;
      }
      const name = /^CONNECT ([\w-]+):/.exec(head)?.[1] ?? '';
      if (name === 'pipe-fin') {
        pipeConnectAt = performance.now();
        socket.end(OK);
        return;
      }
      const c = cases[name];
      if (!c) return socket.destroy();
      const finish = () => (c.after === 'fin' ? socket.end() : socket.resetAndDestroy());
      if (!c.spaced) {
        for (const w of c.writes) socket.write(w);
        // RST after the bytes have left: wait for them to be flushed to the kernel.
        if (c.after === 'rst') socket.write(Buffer.alloc(0), () => setImmediate(finish));
        else finish();
        return;
      }
      let i = 0;
      const next = () => {
        if (i === c.writes.length) return setImmediate(finish);
        socket.write(c.writes[i++]!, () => setImmediate(next));
      };
      next();
    };
    socket.on('data', onData);
  });
}


let upstream: Awaited<ReturnType<typeof startUpstream>>;
let proxy: RunningProxy;

beforeAll(async () => {
  upstream = await startUpstream();
  proxy = await startStickyport({ Upstream: { Url: `http://127.0.0.1:${upstream.port}` }, Listen: { IdleTimeout: 30 } }, { portCount: 1 });
});
afterAll(async () => {
  await proxy?.stop();
  await upstream?.close();
});

describe('bytes an upstream proxy sends right after its 200', () => {
  it.each(Object.keys(cases))('%s: the client gets every byte once, in order, then the close', async (name) => {
    const c = cases[name]!;
    for (let round = 0; round < 5; round++) {
      const { head, data, ended, errored } = await readTunnelToClose(proxy.ports[0]!, `${name}:443`);
      const how = ended && !errored ? 'end' : 'error';
      expect(head).toMatch(/^HTTP\/1\.1 200/);
      const want = expected(c);
      if (c.after === 'fin') {
        expect(data.length).toBe(want.length);
        expect(sha(data)).toBe(sha(want));
        expect(how).toBe('end');
      } else {
        // A reset may overtake bytes still in flight; what arrives must be a prefix, in order.
        expect(sha(data)).toBe(sha(want.subarray(0, data.length)));
        // A reset that comes while the relay reads reaches the client as a reset, never as a
        // clean end it could take for a whole transfer. (One that came before the relay began
        // reading, queued behind the 200, Linux reports to stickyport as an end of stream.)
        if (c.spaced) expect(how).toBe('error');
      }
    }
  });

  it('a CONNECT pipelined behind an unfinished answer opens after it; a FIN right after its 200: the answer, the 200, then the end', async () => {
    const raw = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(proxy.ports[0]!, '127.0.0.1', () =>
        socket.write('GET http://slowget/ HTTP/1.1\r\nHost: slowget\r\n\r\nCONNECT pipe-fin:443 HTTP/1.1\r\nHost: pipe-fin:443\r\n\r\n'),
      );
      const chunks: Buffer[] = [];
      socket.on('data', (c: Buffer) => chunks.push(c));
      socket.on('error', () => undefined);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`no close within 10 s: ${Buffer.concat(chunks).toString('latin1')}`));
      }, 10_000);
      socket.once('close', () => {
        clearTimeout(timer);
        resolve(Buffer.concat(chunks).toString('latin1'));
      });
    });
    expect(raw).toMatch(/helloworld/);
    expect(raw).toMatch(/helloworldHTTP\/1\.1 200 [^\r]*\r\n\r\n$/);
    // Taken in turn, like any pipelined request: the CONNECT left once the answer before it was whole.
    expect(slowRestAt).toBeGreaterThan(0);
    expect(pipeConnectAt).toBeGreaterThan(slowRestAt);
  });

  it('all the FIN cases at once, 8 of each: every client gets its bytes exactly', async () => {
    const names = Object.keys(cases).filter((name) => cases[name]!.after === 'fin');
    const runs = names.flatMap((name) => Array.from({ length: 8 }, () => name));
    const results = await Promise.all(runs.map((name) => readTunnelToClose(proxy.ports[0]!, `${name}:443`).then((r) => ({ name, ...r }))));
    for (const { name, data, ended, errored } of results) {
      const how = ended && !errored ? 'end' : 'error';
      const want = expected(cases[name]!);
      expect({ name, length: data.length, sha: sha(data), how }).toEqual({ name, length: want.length, sha: sha(want), how: 'end' });
    }
  });

  it('keeps serving after all that', async () => {
    const { head } = await readTunnelToClose(proxy.ports[0]!, `same-write-fin:443`);
    expect(head).toMatch(/^HTTP\/1\.1 200/);
  });
});
