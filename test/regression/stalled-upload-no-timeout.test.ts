// Regression (adversarial review): a client that announces a body and stops sending it is
// never cut off. onRequest disarms the connection's idle timer for the whole request
// (`request.socket.setTimeout(0)`, trusting the upstream timeouts to bound the answer), but
// undici arms Upstream.ResponseTimeout only once the request body has been sent, and
// Listen.HeadersTimeout covers the head only. So the client connection and an upstream
// connection stay open for as long as the upstream tolerates it (forever for many), with no
// answer: with IdleTimeout and ResponseTimeout both 1 s, nothing happened in 30 s by hand.
import http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStickyport, type RunningProxy } from '../helpers/stickyport.js';

let origin: http.Server;
let originPort: number;
let proxy: RunningProxy;

beforeAll(async () => {
  // Reads the body and answers at its end, like any upload endpoint.
  origin = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.end('uploaded'));
  });
  await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
  originPort = (origin.address() as net.AddressInfo).port;
  proxy = await startStickyport({ Listen: { IdleTimeout: '1s' }, Upstream: { ResponseTimeout: '1s' } });
});

afterAll(async () => {
  await proxy?.stop();
  origin?.closeAllConnections();
  await new Promise((resolve) => origin?.close(resolve));
});

describe('an upload that stalls half way', () => {
  it('is answered or closed once Listen.IdleTimeout / Upstream.ResponseTimeout have passed', async () => {
    const socket = net.connect(proxy.ports[0]!, '127.0.0.1');
    socket.on('error', () => undefined);
    let answer = '';
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')));
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(`POST http://127.0.0.1:${originPort}/upload HTTP/1.1\r\nHost: 127.0.0.1:${originPort}\r\nContent-Length: 1000\r\n\r\n0123456789`);
    const outcome = await new Promise<string>((resolve) => {
      const timer = setTimeout(() => resolve('still open, nothing answered after 5 s'), 5_000);
      socket.once('close', () => {
        clearTimeout(timer);
        resolve(answer === '' ? 'closed' : `answered ${answer.split('\r\n')[0]}`);
      });
    });
    socket.destroy();
    expect(outcome).not.toBe('still open, nothing answered after 5 s');
  }, 10_000);
});
