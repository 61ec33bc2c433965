import { expect, it } from 'vitest';
import { RawClient, greeting, request4, request5 } from '../helpers/socks-client.js';
import { startStack } from '../helpers/stack.js';

// A stop whose drain ended while a tunnel still waited for its upstream to answer the CONNECT
// cut the client without a word, though a plain request waiting the same way gets a 503
// STOPPING: an HTTP CONNECT now gets that 503, a SOCKS5 client the general-failure reply, a
// SOCKS4 client its one refusal; none of them a 200 or a grant afterwards.

it('tunnels still opening when the drain ends are refused (503 STOPPING, SOCKS failure replies), never granted after', async () => {
  const stack = await startStack({}, { portCount: 1 });
  const { proxy, origin, upstream } = stack;
  const [port] = proxy.ports as [number];
  const target = new URL(origin.url);
  try {
    upstream.connectDelayMs = 3_000;
    const http = await RawClient.connect(port);
    http.send(`CONNECT ${target.host} HTTP/1.1\r\nHost: ${target.host}\r\n\r\n`);
    const socks5 = await RawClient.connect(port);
    socks5.send(greeting(0));
    expect([...(await socks5.read(2))]).toEqual([5, 0]);
    socks5.send(request5({ host: target.hostname, port: Number(target.port) }));
    const socks4 = await RawClient.connect(port);
    socks4.send(request4({ host: target.hostname, port: Number(target.port) }));
    await upstream.waitForRequests(3);

    const stopped = proxy.app.stop(300);
    const [httpAnswer, socks5Reply, socks4Reply] = await Promise.all([http.untilClosed(), socks5.untilClosed(), socks4.untilClosed()]);
    await stopped;

    const head = httpAnswer.toString('latin1');
    expect(head).toMatch(/^HTTP\/1\.1 503 /);
    expect(head).toMatch(/\r\nx-stickyport-error: STOPPING\r\n/i);
    expect(head).not.toMatch(/ 200 /);
    expect(socks5Reply.length).toBe(10);
    expect(socks5Reply[1]).toBe(0x01);
    expect([...socks4Reply.subarray(0, 2)]).toEqual([0, 0x5b]);
    expect(socks4Reply.length).toBe(8);
    expect(proxy.logs.filter((line) => line.includes('BUG'))).toEqual([]);
  } finally {
    upstream.connectDelayMs = 0;
    await stack.stop();
  }
});
