// Regression (adversarial review): the CONNECT answer's status was read as the first three
// digits after "HTTP/1.1 ", so "HTTP/1.1 2000" opened a tunnel; and an interim 100 before the
// 200 was taken as "refused the tunnel with status 100".
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTunnel } from '../helpers/client.js';
import { startStickyport, type RunningProxy } from '../helpers/stickyport.js';

let provider: net.Server;
let answer = '';
// Each byte in its own write, one per turn of the loop: the answer arrives a byte per read.
let dripped = false;
let proxy: RunningProxy;

beforeAll(async () => {
  // Answers every CONNECT with `answer`, then echoes what comes through.
  provider = net.createServer((socket) => {
    socket.on('error', () => undefined);
    socket.setNoDelay(true);
    socket.once('data', () => {
      const written = (async () => {
        if (!dripped) socket.write(answer);
        else for (const byte of Buffer.from(answer, 'latin1')) await new Promise((resolve) => socket.write(Buffer.from([byte]), () => setTimeout(resolve, 1)));
      })();
      // Listened for at once: what the client sends after its 200 is echoed after the answer.
      socket.on('data', (chunk: Buffer) => void written.then(() => socket.write(chunk)));
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

const CASES: Array<[string, number]> = [
    ['HTTP/1.1 2000 OK\r\n\r\n', 502],
    ['HTTP/1.1 200x OK\r\n\r\n', 502],
    ['HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 Connection Established\r\n\r\n', 200],
    ['HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\n', 200],
    ['HTTP/1.1 200\r\n\r\n', 200],
    // The head read a byte at a time is scanned from where the last read stopped (an adversarial
    // pass: rescanning it whole on every read made a dripped head quadratic): line ends split
    // over reads are still judged as a whole head's.
    ['HTTP/1.1 200 OK\r\nVia: x\r\n\r\n', 200],
    ['HTTP/1.1 200 OK\nVia: x\r\n\r\n', 502],
    ['HTTP/1.1 200 OK\r\nVia: x\rY\r\n\r\n', 502],
    ['HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n', 502],
];

describe.each([false, true])('the upstream answer to a CONNECT (a byte per read: %s)', (drip) => {
  it.each(CASES)('%j opens the tunnel only when it is a 200 (client gets %i)', async (text, status) => {
    answer = text;
    dripped = drip;
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
