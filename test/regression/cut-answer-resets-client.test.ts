import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { eventually } from '../helpers/eventually.js';
import { behindHostileUpstream, type HostileAnswer } from '../helpers/hostile-server.js';
import { rawExchangeEnding } from '../helpers/raw.js';

// An answer that broke after its head was relayed (the upstream closing mid-body, a broken
// chunk size, a stall past Upstream.ResponseTimeout) was ended towards the client with a FIN.
// An HTTP/1.0 client reads a body without a length up to the close, so it took the cut for the
// whole body (curl -0 exited 0). The cut is now a reset, as a tunnel's is. (Linux shows a reset
// that arrives before the client read the bytes ahead of it as an end of stream: the cases
// pause after the body's first bytes, as a real upstream that breaks does.)

const HEAD = 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n';
const CASES: Record<string, HostileAnswer> = {
  'closed-mid-body': { bytes: [HEAD, '5\r\nhello\r\n'], after: 'close', gapMs: 100 },
  'broken-chunk-size': { bytes: [HEAD, '5\r\nhello\r\n', 'zz\r\nmore\r\n'], after: 'hold', gapMs: 100 },
  'stalled-past-ResponseTimeout': { bytes: [HEAD, '5\r\nhello\r\n'], after: 'hold', gapMs: 1 },
};

const stack = behindHostileUpstream({ Upstream: { ResponseTimeout: '400ms' } });

/** What an HTTP/1.0 client sees: the bytes, and whether the connection ended cleanly (FIN) or with an error (RST). */
function askAsHttp10(port: number, url: string): Promise<{ text: string; ending: 'end' | string }> {
  return rawExchangeEnding(port, `GET ${url} HTTP/1.0\r\nHost: ${stack.hostile.authority}\r\n\r\n`);
}

describe('an answer cut after its head', () => {
  it.each(Object.keys(CASES))('%s: an HTTP/1.0 client sees a reset, never a clean end it would take for the whole body', async (key) => {
    stack.hostile.answer(key, CASES[key]!);
    const seen = await askAsHttp10(stack.proxy.ports[0]!, `http://${stack.hostile.authority}/case/${key}`);
    expect(seen.ending, seen.text).toBe('ECONNRESET');
    // Never more than the upstream sent: a cut is not dressed up as a complete answer.
    expect(seen.text).not.toMatch(/more/);
  });

  // The reset threw away what the kernel still held for the client: a complete answer pipelined
  // before the cut one, not read yet, was lost with it. A client on HTTP/1.1 sees a chunked or
  // Content-Length answer cut short by the FIN alone, so only a body without a length is reset.
  it('a complete answer pipelined before a cut chunked one arrives whole, read late', async () => {
    const big = 'x'.repeat(1024 * 1024);
    stack.hostile.answer('big', { bytes: [`HTTP/1.1 200 OK\r\nContent-Length: ${big.length}\r\n\r\n${big}`], after: 'keep-alive' });
    stack.hostile.answer('cut-after-big', { bytes: [HEAD, '5\r\nhello\r\n'], after: 'close', gapMs: 100 });
    const socket = net.connect(stack.proxy.ports[0]!, '127.0.0.1');
    socket.pause();
    let bytes = 0;
    const ended = new Promise<string>((resolve) => {
      socket.on('data', (chunk: Buffer) => (bytes += chunk.length));
      socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
      socket.once('close', () => resolve('close'));
    });
    socket.write(`GET http://${stack.hostile.authority}/case/big HTTP/1.1\r\nHost: x\r\n\r\nGET http://${stack.hostile.authority}/case/cut-after-big HTTP/1.1\r\nHost: x\r\n\r\n`);
    // The second request goes upstream only once the first answer is written (to the kernel).
    await eventually(() => stack.hostile.heads.some((head) => head.includes('/case/cut-after-big')), 'the cut request went upstream');
    // And was cut (the upstream pauses 100 ms after its first bytes, then closes).
    await new Promise((resolve) => setTimeout(resolve, 400));
    socket.resume();
    await ended;
    expect(bytes).toBeGreaterThan(big.length);
  });

  it('a complete close-delimited answer still ends with a FIN', async () => {
    stack.hostile.answer('complete', { bytes: [HEAD, '5\r\nhello\r\n0\r\n\r\n'], after: 'keep-alive' });
    const seen = await askAsHttp10(stack.proxy.ports[0]!, `http://${stack.hostile.authority}/case/complete`);
    expect(seen.ending).toBe('end');
    expect(seen.text).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nhello$/);
  });
});
