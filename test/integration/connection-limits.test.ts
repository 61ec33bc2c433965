import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from '../helpers/client.js';
import { eventually } from '../helpers/eventually.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startStickyport, type RunningProxy } from '../helpers/stickyport.js';

// One client cannot take every connection: limits per client address and per port, with
// refusals counted and logged once per burst. Loopback has many addresses, so "another client"
// is another 127.0.0.x source address.
let origin: Origin;
let proxy: RunningProxy;
const held: net.Socket[] = [];

beforeAll(async () => {
  origin = await startOrigin();
  proxy = await startStickyport({ Listen: { MaxConnectionsPerClient: 5, MaxConnectionsPerPort: 8 } }, { portCount: 2 });
});
afterAll(async () => {
  for (const socket of held) socket.destroy();
  await proxy?.stop();
  await origin?.close();
});

/** Connects from `localAddress`; resolves 'open' once accepted and still open a moment later, or 'refused'. */
function hold(port: number, localAddress: string): Promise<'open' | 'refused'> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1', localAddress });
    socket.on('error', () => resolve('refused'));
    socket.once('close', () => resolve('refused'));
    socket.once('connect', () => {
      held.push(socket);
      // An accepted connection gets a request answered; a refused one is closed at once.
      socket.write(`GET ${origin.url}/ HTTP/1.1\r\nHost: x\r\n\r\n`);
      socket.once('data', () => resolve('open'));
    });
  });
}

describe('connection limits', () => {
  it('refuses a client past Listen.MaxConnectionsPerClient while other clients keep being served', async () => {
    const port = proxy.ports[0]!;
    const results = [];
    for (let i = 0; i < 7; i++) results.push(await hold(port, '127.0.0.2'));
    expect(results.filter((result) => result === 'open')).toHaveLength(5);
    expect(results.slice(5)).toEqual(['refused', 'refused']);
    expect(await hold(port, '127.0.0.3')).toBe('open');
    expect((await request(proxy.ports[1]!, `${origin.url}/`)).status).toBe(200);
    expect(proxy.app.limits.refused).toBe(2);
    // Once per burst: the second refusal is counted, not logged again.
    await eventually(() => proxy.logs.some((line) => line.includes('connection refused')), 'the refusal was logged');
    expect(proxy.logs.filter((line) => line.includes('connection refused'))).toHaveLength(1);
  });

  it('refuses connections to a port past Listen.MaxConnectionsPerPort; the other port still serves', async () => {
    const port = proxy.ports[0]!;
    // 6 are open on this port already (5 from .2, 1 from .3): two more fit.
    expect(await hold(port, '127.0.0.4')).toBe('open');
    expect(await hold(port, '127.0.0.5')).toBe('open');
    expect(await hold(port, '127.0.0.6')).toBe('refused');
    expect((await request(proxy.ports[1]!, `${origin.url}/`)).status).toBe(200);
  });

  it('gives the slots back when connections close', async () => {
    for (const socket of held.splice(0)) socket.destroy();
    await eventually(() => proxy.app.listeners.connectionCount(proxy.ports[0]!) === 0, 'every held connection closed');
    expect(await hold(proxy.ports[0]!, '127.0.0.2')).toBe('open');
  });
});
