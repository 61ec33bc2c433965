import { afterAll, beforeAll, expect, it } from 'vitest';
import { request } from '../helpers/client.js';
import { startAddressEcho, startExitProvider, type AddressEcho, type ExitProvider } from '../helpers/exit-provider.js';
import { socks5Connect } from '../helpers/socks-client.js';
import { startStickyport } from '../helpers/stickyport.js';

// A stop whose drain ended while `/session/?ip=1` still waited for its echo answer (the
// provider holding it) cut the client's connection without an answer, though a forwarded
// request waiting the same way gets a 503 STOPPING. (The API's own answer, should the check end
// after that 503, is then skipped: src/api/api-gateway.ts checks headersSent.)

let provider: ExitProvider;
let echo: AddressEcho;
beforeAll(async () => {
  [provider, echo] = await Promise.all([startExitProvider(), startAddressEcho()]);
});
afterAll(async () => {
  provider.release();
  await Promise.all([provider.close(), echo.close()]);
});

type Said = { status: number; said: string };

/** Asks /session/?ip=1 on `port` (over HTTP, or inside a SOCKS5 CONNECT to the API host); `answer`: its status and error code. */
async function askIp(port: number, over: 'http' | 'socks'): Promise<{ answer: Promise<Said> }> {
  if (over === 'http') {
    const answer = request(port, 'http://portmapper/session/?ip=1').then(
      (answer) => ({ status: answer.status, said: String(answer.headers['x-stickyport-error']) }),
      (error: Error) => ({ status: 0, said: error.message }),
    );
    return { answer };
  }
  const { code, client } = await socks5Connect(port, { host: 'portmapper', port: 80 });
  expect(code).toBe(0);
  client.send('GET /session/?ip=1 HTTP/1.1\r\nHost: portmapper\r\n\r\n');
  const answer = client.readAnswer().then(
    (got) => ({ status: got.status, said: /stopping/.test(got.body) ? 'STOPPING' : got.body }),
    (error: Error) => ({ status: 0, said: error.message }),
  );
  return { answer };
}

// Through SOCKS (CONNECT portmapper:80, then GET) the call was cut without an answer too.
it.each(['http', 'socks'] as const)('a /session/?ip=1 (over %s) still waiting when the drain ends gets a 503 STOPPING', async (over) => {
  const proxy = await startStickyport(
    {
      Upstream: { Url: `http://customer-acme-session-{session}:secret@127.0.0.1:${provider.port}` },
      Identity: { EchoUrl: `${echo.url}/ip`, Timeout: '30s' },
    },
    { portCount: 1 },
  );
  const [port] = proxy.ports as [number];
  provider.decide = (seen) => (seen.target.endsWith('/ip') ? 'stall' : undefined);
  const held = provider.waitFor((seen) => seen.target.endsWith('/ip'));
  const asked = await askIp(port, over);
  await held;
  const stopped = proxy.app.stop(200);
  expect(await asked.answer).toEqual({ status: 503, said: 'STOPPING' });
  await stopped;
  provider.decide = undefined;
  provider.release();
  expect(proxy.logs.filter((line) => line.includes('BUG'))).toEqual([]);
});
