// Regression (s34 answers pass A1): an upstream that writes a whole head owing a body and closes
// in the same instant got its 200 head relayed, then a cut, every time, where the README
// promises a clean 502 when nothing of the answer was sent: the head was held two loop turns,
// and libuv reads the close a turn or more after the head. It is now held HEAD_HOLD_MS
// (forward.ts). The close reaching the proxy within that hold depends on the machine: most
// tries, not all, are judged, so a loaded run cannot fail it (before the fix: 0 of 12).
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStickyport, type RunningProxy } from '../helpers/stickyport.js';
import { startTcpServer, type TcpServer } from '../helpers/tcp-server.js';

let closing: TcpServer;
let proxy: RunningProxy;

beforeAll(async () => {
  // Answers each request with a head owing 9 000 bytes and its FIN (or a reset), in one go.
  closing = await startTcpServer((socket) => {
    socket.once('data', (chunk: Buffer) => {
      const head = 'HTTP/1.1 200 OK\r\nContent-Length: 9000\r\n\r\n';
      if (chunk.toString('latin1').includes('/reset')) {
        socket.write(head, () => socket.resetAndDestroy());
      } else {
        socket.end(head);
      }
    });
  });
  proxy = await startStickyport({});
});

afterAll(async () => {
  await proxy?.stop();
  await closing?.close();
});

/** The status line the client got, then whether the connection stayed open after it. */
function ask(path: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(proxy.ports[0]!, '127.0.0.1', () =>
      socket.write(`GET http://127.0.0.1:${closing.port}${path} HTTP/1.1\r\nHost: 127.0.0.1:${closing.port}\r\n\r\n`),
    );
    let text = '';
    const timer = setTimeout(() => finish('no answer within 5 s'), 5_000);
    const finish = (what: string): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(what);
    };
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
      // A 502 comes whole, with its length: judged as soon as its body is in.
      const length = /content-length: (\d+)/i.exec(text);
      const end = text.indexOf('\r\n\r\n');
      if (end >= 0 && length && text.length >= end + 4 + Number(length[1]) && text.startsWith('HTTP/1.1 502')) finish('502');
    });
    socket.once('close', () => finish(text.startsWith('HTTP/1.1 200') ? '200 then a cut' : `closed after ${JSON.stringify(text.slice(0, 40))}`));
  });
}

describe('an upstream that sends a head owing a body and closes at once', () => {
  it.each(['/fin', '/reset'])('%s: the client gets a clean 502 in most tries, never a hang', async (path) => {
    const outcomes: string[] = [];
    for (let i = 0; i < 12; i++) outcomes.push(await ask(`${path}/${i}`));
    expect(outcomes.filter((what) => what !== '502' && what !== '200 then a cut')).toEqual([]);
    expect(outcomes.filter((what) => what === '502').length, outcomes.join(', ')).toBeGreaterThanOrEqual(9);
  });
});
