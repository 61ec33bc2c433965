import { once } from 'node:events';
import { HttpProxyAgent } from 'http-proxy-agent';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { apiJson, request } from '../helpers/client.js';
import { everyRoute, type RouteName } from '../helpers/every-route.js';

// `ws://` through the proxy as a plain-HTTP request with Upgrade (what http-proxy-agent sends):
// relayed through the port's session route, frames both ways, and closed by a rotation like a
// tunnel.
let wss: WebSocketServer;
let wsPort: number;
const routes = everyRoute();

beforeAll(async () => {
  wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await once(wss, 'listening');
  wsPort = (wss.address() as { port: number }).port;
  wss.on('connection', (socket) => socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary })));
});

afterAll(async () => {
  for (const client of wss.clients) client.terminate();
  await new Promise((resolve) => wss.close(resolve));
});

function connectThrough(port: number): WebSocket {
  return new WebSocket(`ws://127.0.0.1:${wsPort}/chat`, { agent: new HttpProxyAgent(`http://127.0.0.1:${port}`) });
}

describe.each(['direct', 'HTTP upstream', 'SOCKS5 upstream'])('WebSocket through the proxy, %s', (name) => {
  it('switches protocols and carries text and binary frames both ways', async () => {
    const [port] = routes.proxies[name as RouteName].ports as [number];
    const ws = connectThrough(port);
    await once(ws, 'open');
    ws.send('hello');
    const [text] = await once(ws, 'message');
    expect(text.toString()).toBe('hello');
    const binary = Buffer.from([0, 1, 2, 255, 254]);
    ws.send(binary);
    const [echoed, isBinary] = await once(ws, 'message');
    expect(isBinary).toBe(true);
    expect(Buffer.compare(echoed as Buffer, binary)).toBe(0);
    ws.close();
    await once(ws, 'close');
  });

  it('is closed by a rotation of its port, like a tunnel', async () => {
    const [port] = routes.proxies[name as RouteName].ports as [number];
    const ws = connectThrough(port);
    await once(ws, 'open');
    const closed = once(ws, 'close');
    await apiJson(port, '/session/new');
    await closed;
    // The port itself keeps serving.
    expect((await request(port, 'http://portmapper/session/')).status).toBe(200);
  });
});

describe('WebSocket session identity', () => {
  it('leaves through the HTTP upstream with the port session id', async () => {
    const [port] = routes.proxies['HTTP upstream'].ports as [number];
    const { session_id: id } = await apiJson<{ session_id: string }>(port, '/session/');
    const ws = connectThrough(port);
    await once(ws, 'open');
    const seen = routes.upstream.seen.filter((entry) => entry.kind === 'upgrade').at(-1)!;
    expect(seen.session).toBe(id);
    expect(seen.target).toBe(`http://127.0.0.1:${wsPort}/chat`);
    ws.close();
    await once(ws, 'close');
  });

  it('answers a refused upgrade with the upstream answer, not a switch', async () => {
    const [port] = routes.proxies.direct.ports as [number];
    // A plain HTTP origin does not switch: its answer is relayed.
    const answer = await request(port, `http://127.0.0.1:${routes.upstream.port}/`, { headers: { connection: 'upgrade', upgrade: 'websocket' } });
    expect(answer.status).not.toBe(101);
  });
});
