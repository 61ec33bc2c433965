import { describe, expect, it } from 'vitest';
import { behindHostileUpstream, type HostileAnswer } from '../helpers/hostile-server.js';
import { rawExchangeEnding } from '../helpers/raw.js';

// An answer without Content-Length and not chunked ends where its connection ends. undici
// completes such a body on a TCP reset as it does on a FIN (a macOS quirk it works around), so a
// body the upstream broke off with a reset reached the client as a whole answer: an HTTP/1.1
// client got the last chunk, an HTTP/1.0 client a clean close. curl, Node's client and Squid
// take a reset there for the error it is; so does stickyport now: the client's answer is cut.

const HEAD = 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n';
const CASES: Record<string, HostileAnswer> = {
  'reset-after-body': { bytes: [HEAD, 'hello'], after: 'reset', gapMs: 100 },
  'fin-after-body': { bytes: [HEAD, 'hello'], after: 'close', gapMs: 100 },
};

const stack = behindHostileUpstream();

/** The bytes a client got, and whether its connection ended with a FIN or a reset. */
function ask(port: number, key: string, version: '1.0' | '1.1'): Promise<{ text: string; ending: string }> {
  const connection = version === '1.1' ? 'Connection: close\r\n' : '';
  return rawExchangeEnding(port, `GET http://${stack.hostile.authority}/case/${key} HTTP/${version}\r\nHost: x\r\n${connection}\r\n`);
}

describe('a body without a length that the upstream ends with a reset', () => {
  it('reaches an HTTP/1.1 client without the last chunk: the client sees a cut answer', async () => {
    stack.hostile.answer('reset-after-body', CASES['reset-after-body']!);
    const seen = await ask(stack.proxy.ports[0]!, 'reset-after-body', '1.1');
    expect(seen.text).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*Transfer-Encoding: chunked\r\n(?:[^\r]+\r\n)*\r\n5\r\nhello\r\n$/);
  });

  it('reaches an HTTP/1.0 client as a reset, never a clean end', async () => {
    stack.hostile.answer('reset-after-body', CASES['reset-after-body']!);
    const seen = await ask(stack.proxy.ports[0]!, 'reset-after-body', '1.0');
    expect(seen.ending, seen.text).toBe('ECONNRESET');
  });

  it.each(['1.0', '1.1'] as const)('ended with a FIN, it is still a whole answer (HTTP/%s client)', async (version) => {
    stack.hostile.answer('fin-after-body', CASES['fin-after-body']!);
    const seen = await ask(stack.proxy.ports[0]!, 'fin-after-body', version);
    expect(seen.ending).toBe('end');
    expect(seen.text).toMatch(version === '1.1' ? /\r\n\r\n5\r\nhello\r\n0\r\n\r\n$/ : /\r\n\r\nhello$/);
  });

  // The reset in the same read as the last bytes: Node reads an end of stream there, not the
  // reset. Repeated, since how the bytes and the reset fall into reads varies; whatever falls
  // where, the client never gets a whole answer (a 502, when the reset took the head too).
  it.each(['1.0', '1.1'] as const)('reset in the same instant as the last bytes, 20 times: never a whole answer (HTTP/%s client)', async (version) => {
    stack.hostile.answer('reset-with-body', { bytes: [`${HEAD}hello`], after: 'reset' });
    for (let i = 0; i < 20; i++) {
      const seen = await ask(stack.proxy.ports[1]!, 'reset-with-body', version);
      if (/^HTTP\/1\.1 502 /.test(seen.text)) continue;
      if (version === '1.0') expect(seen.ending, seen.text).toBe('ECONNRESET');
      else expect(seen.text, `try ${i}`).not.toMatch(/\r\n0\r\n\r\n$/);
    }
  });

  it('the port serves the next request', async () => {
    const seen = await ask(stack.proxy.ports[0]!, 'none', '1.1');
    expect(seen.text).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*fine /);
  });
});
