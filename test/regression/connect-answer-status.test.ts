// Regression (adversarial review): the CONNECT answer's status was read as the first three
// digits after "HTTP/1.1 ", so "HTTP/1.1 2000" opened a tunnel; and an interim 100 before the
// 200 was taken as "refused the tunnel with status 100".
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTunnel } from '../helpers/client.js';
import { startStickyport, type RunningProxy } from '../helpers/stickyport.js';

let provider: net.Server;
let answer = '';
let proxy: RunningProxy;

beforeAll(async () => {
  // Answers every CONNECT with `answer`, then echoes what comes through.
  provider = net.createServer((socket) => {
    socket.on('error', () => undefined);
    socket.once('data', () => {
      socket.write(answer);
      socket.on('data', (chunk: Buffer) => socket.write(chunk));
    });
  });
  await new Promise<void>((resolve) => provider.listen(0, '127.0.0.1', resolve));
  const { port } = provider.address() as net.AddressInfo;
  proxy = await startStickyport({ Upstream: { Url: `http://u-{session}:p@127.0.0.1:${port}` } }, { portCount: 1 });
});
afterAll(async () => {
  await proxy?.stop();
  provider?.close();
});

describe('the upstream answer to a CONNECT', () => {
  it.each([
    ['HTTP/1.1 2000 OK\r\n\r\n', 502],
    ['HTTP/1.1 200x OK\r\n\r\n', 502],
    ['HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 Connection Established\r\n\r\n', 200],
    ['HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\n', 200],
    ['HTTP/1.1 200\r\n\r\n', 200],
  ])('%j opens the tunnel only when it is a 200 (client gets %i)', async (text, status) => {
    answer = text;
    const tunnel = await openTunnel(proxy.ports[0]!, '127.0.0.1:9');
    expect(tunnel.status).toBe(status);
    if (status === 200) {
      tunnel.socket.write('ping');
      const [echoed] = (await new Promise((resolve) => tunnel.socket.once('data', (chunk: Buffer) => resolve([chunk])))) as [Buffer];
      expect(echoed.toString()).toBe('ping');
    }
    tunnel.socket.destroy();
  });
});
