import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startStickyport, type RunningProxy } from '../helpers/stickyport.js';

// An upstream that failed while a client was still uploading (a reset as the request head came
// in) got a 502 marked keep-alive, but the rest of the body was read by no one: the client's
// next request on that connection was never answered, and the connection was cut with nothing
// at Listen.IdleTimeout (60 s). The 502 now closes the connection, as an early answer does.

let provider: net.Server;
let proxy: RunningProxy;
let heads = 0;

beforeAll(async () => {
  // Resets every connection as soon as a request head arrives.
  provider = net.createServer((socket) => {
    socket.on('error', () => {});
    let text = '';
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
      if (!text.includes('\r\n\r\n')) return;
      heads++;
      socket.resetAndDestroy();
    });
  });
  provider.listen(0, '127.0.0.1');
  await once(provider, 'listening');
  const port = (provider.address() as AddressInfo).port;
  proxy = await startStickyport({ Upstream: { Url: `http://customer-x-session-{session}:pw@127.0.0.1:${port}` }, Logging: { Level: 'warn' } }, { portCount: 1 });
});

afterAll(async () => {
  await proxy?.stop();
  provider?.close();
});

it('a 502 for an upstream that failed mid-upload closes the client connection, which is not left waiting', async () => {
  const client = net.connect({ host: '127.0.0.1', port: proxy.ports[0]! });
  client.on('error', () => {});
  await once(client, 'connect');
  // The head and the first part of a 512 KiB body; the rest would follow at the client's pace.
  client.write(`POST http://upload.test/ HTTP/1.1\r\nHost: upload.test\r\nContent-Length: ${512 * 1024}\r\n\r\n`);
  client.write(Buffer.alloc(16 * 1024, 'b'));
  let answer = '';
  const ended = once(client, 'end');
  await new Promise<void>((resolve) => {
    client.on('data', (chunk: Buffer) => {
      answer += chunk.toString('latin1');
      if (answer.includes('\r\n\r\n')) resolve();
    });
  });
  expect(answer).toMatch(/^HTTP\/1\.1 502 /);
  expect(answer).toMatch(/x-stickyport-error: UPSTREAM_RESET/i);
  expect(answer).toMatch(/\r\nconnection: close\r\n/i);
  await ended;
  expect(heads).toBe(1);
});
