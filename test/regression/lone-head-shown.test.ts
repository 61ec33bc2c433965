// A head that comes without body bytes is held a moment (forward.ts HEAD_HOLD_MS), so that a
// close right behind it is still a clean 502 (test/hostile/answer-cases.ts: "a head owing a body,
// then close at once"). The hold must stay a moment: a stream that pauses after its head (a
// long poll, an event stream, a server still computing the body) shows its head to the client
// while its body has not begun, and the body follows when it comes.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStickyport, type RunningProxy } from '../helpers/stickyport.js';
import { startTcpServer, type TcpServer } from '../helpers/tcp-server.js';

let paused: TcpServer;
const bodyGoes: Array<() => void> = [];
let proxy: RunningProxy;

beforeAll(async () => {
  // Answers each request with its head at once and its body only when the test says so.
  paused = await startTcpServer((socket) => {
    let head = '';
    socket.on('data', (chunk: Buffer) => {
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      head = '';
      socket.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n');
      bodyGoes.push(() => socket.write('later'));
    });
  });
  proxy = await startStickyport({});
});

afterAll(async () => {
  await proxy?.stop();
  await paused?.close();
});

describe('an answer whose body pauses after its head', () => {
  it('shows its head while the body has not begun, then relays the body on the same connection', async () => {
    const socket = net.connect(proxy.ports[0]!, '127.0.0.1');
    socket.on('error', () => undefined);
    let received = '';
    const until = (text: string): Promise<void> =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ${JSON.stringify(text)} within 5 s; got ${JSON.stringify(received)}`)), 5_000);
        const check = (): void => {
          if (!received.includes(text)) return;
          clearTimeout(timer);
          socket.removeListener('data', check);
          resolve();
        };
        socket.on('data', check);
        check();
      });
    socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
    await new Promise((resolve) => socket.once('connect', resolve));
    for (let round = 0; round < 3; round++) {
      received = '';
      socket.write(`GET http://127.0.0.1:${paused.port}/slow-body HTTP/1.1\r\nHost: 127.0.0.1:${paused.port}\r\n\r\n`);
      await until('\r\n\r\n');
      expect(received).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
      expect(received).not.toContain('later');
      expect(bodyGoes).toHaveLength(1);
      bodyGoes.shift()!();
      await until('later');
      expect(received.endsWith('\r\n\r\nlater')).toBe(true);
    }
    socket.destroy();
  });
});
