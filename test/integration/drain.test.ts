import http from 'node:http';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { closed, request } from '../helpers/client.js';
import { socks5Connect } from '../helpers/socks-client.js';
import { startStack } from '../helpers/stack.js';

/** Sends a GET on `socket` and resolves with the raw answer head once it arrives (or what came before a close). */
function askRaw(socket: net.Socket, url: string): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    const onData = (chunk: Buffer): void => {
      text += chunk.toString('latin1');
      if (text.includes('\r\n\r\n')) {
        socket.removeListener('data', onData);
        resolve(text);
      }
    };
    socket.on('data', onData);
    // Cut without an answer: what came, so that the expectation fails rather than the test hanging.
    socket.once('close', () => resolve(text));
    socket.write(`GET ${url} HTTP/1.1\r\nHost: x\r\n\r\n`);
  });
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => resolve(socket));
    socket.once('error', reject);
  });
}

describe('stopping under load', () => {
  it('closes idle keep-alive clients at once, says Connection: close during the drain, refuses new connections, and answers 503 to what is still waiting at its end', async () => {
    const stack = await startStack({}, { portCount: 2 });
    const { proxy, origin } = stack;
    const [port] = proxy.ports as [number];
    try {
      const idle = await connect(port);
      expect(await askRaw(idle, `${origin.url}/`)).toMatch(/^HTTP\/1\.1 200/);
      const finishing = await connect(port);
      const waiting = await connect(port);
      const finishingAnswer = askRaw(finishing, `${origin.url}/delay/300`);
      const waitingAnswer = askRaw(waiting, `${origin.url}/delay/5000`);
      await stack.upstream.waitForRequests(3);

      const stopped = proxy.app.stop(1_000);
      const drainStarted = Date.now();
      await closed(idle);
      expect(Date.now() - drainStarted).toBeLessThan(500);

      const refused = await new Promise<string>((resolve) => {
        const socket = net.connect(port, '127.0.0.1');
        socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
        socket.once('connect', () => resolve('connected'));
      });
      expect(refused).toBe('ECONNREFUSED');

      const late = await finishingAnswer;
      expect(late).toMatch(/^HTTP\/1\.1 200/);
      expect(late).toMatch(/\r\nconnection: close\r\n/i);

      const cut = await waitingAnswer;
      expect(cut).toMatch(/^HTTP\/1\.1 503/);
      expect(cut).toMatch(/x-stickyport-error: STOPPING/i);
      expect(cut).toMatch(/\r\nconnection: close\r\n/i);
      await stopped;
    } finally {
      await stack.stop();
    }
  });

  it('answers 503 to each request still waiting at its end, whichever of the waiting ones finished before', async () => {
    const stack = await startStack({}, { portCount: 1 });
    const { proxy, origin } = stack;
    const [port] = proxy.ports as [number];
    try {
      // Answers in flight enter and leave the drain's list in any order: short ones between long ones.
      const delays = [5000, 400, 300, 5000, 400, 300, 5000];
      const sockets = await Promise.all(delays.map(() => connect(port)));
      const answers = delays.map((ms, i) => askRaw(sockets[i]!, `${origin.url}/delay/${ms}`));
      await stack.upstream.waitForRequests(delays.length);
      const stopped = proxy.app.stop(1_000);
      const heads = await Promise.all(answers);
      expect(heads.map((head) => head.slice(9, 12))).toEqual(delays.map((ms) => (ms < 1000 ? '200' : '503')));
      await stopped;
    } finally {
      await stack.stop();
    }
  });

  // Closed at the start of the drain like an idle HTTP one: before, it held the stop for the whole drain.
  it('an idle session API connection through SOCKS does not hold up stopping', async () => {
    const stack = await startStack({}, { portCount: 1 });
    try {
      const { code, client } = await socks5Connect(stack.proxy.ports[0]!, { host: 'portmapper', port: 80 });
      expect(code).toBe(0);
      client.send('GET /session/ HTTP/1.1\r\nHost: portmapper\r\n\r\n');
      expect((await client.readAnswer()).status).toBe(200);
      const started = Date.now();
      await stack.proxy.app.stop(3_000);
      expect(Date.now() - started).toBeLessThan(1_000);
      await client.untilClosed();
    } finally {
      await stack.stop();
    }
  });

  it('an idle agent connection does not hold up stopping', async () => {
    const stack = await startStack({}, { portCount: 1 });
    const agent = new http.Agent({ keepAlive: true });
    try {
      expect((await request(stack.proxy.ports[0]!, `${stack.origin.url}/`, { agent })).status).toBe(200);
      const started = Date.now();
      await stack.proxy.app.stop(3_000);
      expect(Date.now() - started).toBeLessThan(1_000);
    } finally {
      agent.destroy();
      await stack.stop();
    }
  });
});
