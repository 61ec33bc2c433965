// Regression (adversarial review): Node's http.Server keeps only the first 2 000 headers of a
// request (maxHeadersCount) and drops the rest without a word, while its parser still frames
// the body by them. stickyport decides whether a request has a body from the headers it was
// given (hasBody: Content-Length / Transfer-Encoding), so a POST whose Content-Length comes
// after 2 000 short headers (about 8 KB, well under the 16 KB head limit) goes upstream
// without its body and without its length, and the client gets the upstream's 200 for a
// request it never sent. Either forward every header (maxHeadersCount = 0) or refuse the
// request (431); never forward part of it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { rawExchange, statusOf } from '../helpers/raw.js';
import { startStickyport, type RunningProxy } from '../helpers/stickyport.js';

let origin: Origin;
let proxy: RunningProxy;

beforeAll(async () => {
  origin = await startOrigin();
  proxy = await startStickyport();
});

afterAll(async () => {
  await proxy?.stop();
  await origin?.close();
});

describe('a request with more than 2 000 headers', () => {
  it('is forwarded whole (its body with it) or refused, never forwarded without its body', async () => {
    const filler = Array.from({ length: 2_000 }, (_, i) => `x${i}: \r\n`).join('');
    const answer = await rawExchange(
      proxy.ports[0]!,
      `POST ${origin.url}/echo HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\nConnection: close\r\n${filler}Content-Length: 5\r\n\r\nhello`,
    );
    const status = statusOf(answer);
    if (status === 200) expect(bodyOf(answer)).toBe('hello');
    else expect([400, 431]).toContain(status);
  });
});

/** The body of a raw answer, chunked framing undone. */
function bodyOf(answer: string): string {
  const split = answer.indexOf('\r\n\r\n');
  const head = answer.slice(0, split);
  let rest = answer.slice(split + 4);
  if (!/\r\ntransfer-encoding: chunked/i.test(head)) return rest;
  let body = '';
  for (;;) {
    const line = rest.indexOf('\r\n');
    const size = parseInt(rest.slice(0, line), 16);
    if (!size) return body;
    body += rest.slice(line + 2, line + 2 + size);
    rest = rest.slice(line + 2 + size + 2);
  }
}
