import type { HostileAfter, HostileAnswer } from '../helpers/hostile-server.js';

/**
 * What a client may get for a hostile answer:
 * - `relay`: the answer relayed intact (the status and one of `relay.bodies`);
 * - `error`: a 502 (504 for a stall) with `X-Stickyport-Error` and a short reason;
 * - `cut`: a valid head, then the connection closed (the answer broke after its head went out).
 * A hang, a crash, invalid bytes, or a silent close are never allowed.
 */
export type Outcome = 'relay' | 'error' | 'cut';

export interface AnswerCase {
  readonly group: string;
  readonly name: string;
  readonly method: 'GET' | 'HEAD';
  readonly answer: HostileAnswer;
  readonly allow: readonly Outcome[];
  readonly relay?: {
    readonly status: number;
    readonly bodies: readonly string[];
    /** A header the relayed answer must carry, lower-case name and value. */
    readonly header?: readonly [string, string];
  };
}

export const BODY = 'hostile-ok';
/** Framing and body after the status line of most cases. */
const TAIL = `Content-Length: ${BODY.length}\r\n\r\n${BODY}`;
/** A complete second answer: must never reach anyone. */
export const SMUGGLED_ANSWER = 'HTTP/1.1 200 OK\r\nX-Smuggled: yes\r\nContent-Length: 8\r\n\r\nSMUGGLED';

/** The control bytes of ASCII: 0x00-0x1f and 0x7f. */
export const CONTROL_BYTES = [...Array.from({ length: 32 }, (_, i) => i), 0x7f];
const hex = (byte: number): string => `0x${byte.toString(16).padStart(2, '0')}`;

const GOOD = { status: 200, bodies: [BODY] } as const;
const RELAY = ['relay'] as const;
const ERROR = ['error'] as const;
const RELAY_OR_ERROR = ['relay', 'error'] as const;
const BROKEN = ['cut', 'error'] as const;
const ANY_SAFE = ['relay', 'cut', 'error'] as const;

type Spec = Omit<AnswerCase, 'group' | 'method' | 'answer'> & { method?: 'GET' | 'HEAD'; after?: HostileAfter };

function make(group: string, bytes: string | ReadonlyArray<string | Buffer>, spec: Spec): AnswerCase {
  const { after = 'keep-alive', method = 'GET', ...rest } = spec;
  return { group, method, answer: { bytes: typeof bytes === 'string' ? [bytes] : bytes, after }, ...rest };
}

/** A tiny deterministic PRNG (mulberry32), for reproducible garbage. */
function garbage(seed: number, length: number): Buffer {
  let state = seed;
  return Buffer.from(
    Array.from({ length }, () => {
      state = (state + 0x6d2b79f5) | 0;
      let t = Math.imul(state ^ (state >>> 15), 1 | state);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) & 0xff;
    }),
  );
}

export function statusLineCases(): AnswerCase[] {
  const g = 'status line';
  const cases: AnswerCase[] = [];
  for (const code of ['000', '001', '010', '099', '-1', '-20', '2x0', '20', '1000', '2000', '0200', '+20', 'abc', '', '2 00']) {
    cases.push(make(g, `HTTP/1.1 ${code} Weird\r\n${TAIL}`, { name: `code ${JSON.stringify(code)}`, allow: ERROR }));
  }
  cases.push(make(g, [Buffer.from(`HTTP/1.1 \u0662\u0660\u0660 OK\r\n${TAIL}`)], { name: 'code in Arabic-Indic digits', allow: ERROR }));
  for (const code of ['600', '799', '999']) {
    cases.push(make(g, `HTTP/1.1 ${code} Odd\r\n${TAIL}`, { name: `code ${code}`, allow: RELAY_OR_ERROR, relay: { status: Number(code), bodies: [BODY] } }));
  }
  for (const code of ['299', '420', '599']) {
    cases.push(make(g, `HTTP/1.1 ${code} Custom\r\n${TAIL}`, { name: `unregistered code ${code}`, allow: RELAY, relay: { status: Number(code), bodies: [BODY] } }));
  }
  for (const interim of ['100 Continue', '102 Processing', '103 Early Hints', '199 Whatever']) {
    cases.push(make(g, `HTTP/1.1 ${interim}\r\n\r\n`, { name: `${interim} alone, then close`, allow: ERROR, after: 'close' }));
  }
  cases.push(make(g, 'HTTP/1.1 100 Continue\r\n\r\n', { name: '100 alone, then reset', allow: ERROR, after: 'reset' }));
  cases.push(make(g, 'HTTP/1.1 200 OK\r\n', { name: 'a status line alone, then close', allow: ERROR, after: 'close' }));
  // A whole head owing a body, then the close: a 502 when the close comes within the head's
  // hold (test/regression/head-then-close.test.ts counts those), else a cut after the head; a
  // relaying hop (the SOCKS5 route's) or a loaded machine may pass the close on later.
  for (const after of ['close', 'reset'] as const) {
    cases.push(make(g, 'HTTP/1.1 200 OK\r\nContent-Length: 9000\r\n\r\n', { name: `a head owing a body, then ${after} at once`, allow: BROKEN, after }));
    cases.push(make(g, 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n', { name: `a chunked head, then ${after} at once`, allow: BROKEN, after }));
  }
  const empty = { status: 200, bodies: [''] };
  cases.push(make(g, 'HTTP/1.1 200 OK\r\n\r\n', { name: 'a head without framing, then close (empty body)', allow: RELAY, relay: empty, after: 'close' }));
  cases.push(make(g, `HTTP/1.1 200 OK\r\n\r\n${BODY}`, { name: 'a body without framing, then close', allow: RELAY, relay: GOOD, after: 'close' }));
  cases.push(make(g, `HTTP/1.0 200 OK\r\n\r\n${BODY}`, { name: 'HTTP/1.0 body without framing, then close', allow: RELAY, relay: GOOD, after: 'close' }));
  cases.push(make(g, `HTTP/1.1 200\r\n${TAIL}`, { name: 'no reason phrase and no space', allow: RELAY_OR_ERROR, relay: GOOD }));
  cases.push(make(g, `HTTP/1.1 200 \r\n${TAIL}`, { name: 'an empty reason phrase', allow: RELAY, relay: GOOD }));
  cases.push(make(g, `HTTP/1.0 200 OK\r\n${TAIL}`, { name: 'HTTP/1.0', allow: RELAY, relay: GOOD }));
  for (const version of ['HTTP/2.0', 'HTTP/2', 'HTTP/1.2', 'HTTP/0.9', 'HTTP/3.0', 'HTTP/1.10', 'HTTP/11', 'http/1.1', 'ICY', 'RTSP/1.0']) {
    cases.push(make(g, `${version} 200 OK\r\n${TAIL}`, { name: `version ${version}`, allow: RELAY_OR_ERROR, relay: GOOD }));
  }
  for (const [name, line] of [
    ['no space after the version', 'HTTP/1.1200 OK'],
    ['no version', '200 OK'],
    ['HTTP without version', 'HTTP 200 OK'],
    ['HTTP/ without version', 'HTTP/ 200 OK'],
  ] as const) {
    cases.push(make(g, `${line}\r\n${TAIL}`, { name, allow: ERROR }));
  }
  for (const [name, text] of [
    ['two spaces before the code', `HTTP/1.1  200 OK\r\n${TAIL}`],
    ['a tab before the code', `HTTP/1.1\t200 OK\r\n${TAIL}`],
    ['LF-only line endings', `HTTP/1.1 200 OK\nContent-Length: 10\n\n${BODY}`],
    ['LF-only end of head', `HTTP/1.1 200 OK\r\nContent-Length: 10\n\r\n${BODY}`],
    ['CR-only line endings', `HTTP/1.1 200 OK\rContent-Length: 10\r\r${BODY}`],
    ['a CRLF before the status line', `\r\nHTTP/1.1 200 OK\r\n${TAIL}`],
    ['spaces before the status line', `  HTTP/1.1 200 OK\r\n${TAIL}`],
  ] as const) {
    cases.push(make(g, text, { name, allow: RELAY_OR_ERROR, relay: GOOD }));
  }
  const binary: Array<[string, Buffer]> = [
    ['control bytes', Buffer.from([0, 1, 2, 3, 0xff, 0xfe, 0xfd, 0x7f, 0x1b, 0x5b])],
    ['a TLS alert', Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28])],
    ['a TLS server hello', Buffer.concat([Buffer.from([0x16, 0x03, 0x03, 0x00, 0x31, 0x02, 0x00, 0x00, 0x2d, 0x03, 0x03]), garbage(7, 45)])],
    ['an SSH banner', Buffer.from('SSH-2.0-OpenSSH_9.2\r\n')],
    ['an SMTP greeting', Buffer.from('220 smtp.example ESMTP\r\n')],
    ['HTML without a head', Buffer.from('<html>not http</html>\r\n\r\n')],
    ...[1, 2, 3, 4, 5].map((seed): [string, Buffer] => [`random bytes #${seed}`, garbage(seed, 512)]),
  ];
  for (const [name, bytes] of binary) cases.push(make(g, [bytes], { name: `${name}, then close`, allow: ERROR, after: 'close' }));
  cases.push(make(g, [garbage(9, 64)], { name: 'random bytes, then silence', allow: ERROR, after: 'hold' }));
  cases.push(make(g, [], { name: 'an empty answer, then close', allow: ERROR, after: 'close' }));
  cases.push(make(g, [], { name: 'an empty answer, then reset', allow: ERROR, after: 'reset' }));
  cases.push(make(g, [], { name: 'no answer at all (silence)', allow: ERROR, after: 'hold' }));
  cases.push(make(g, 'HTTP/1.1 200 OK\r\nX-A: b\r\n', { name: 'a head that never ends, then silence', allow: ERROR, after: 'hold' }));
  cases.push(make(g, 'HTTP/1.1 200 OK\r\nX-A: b\r\n', { name: 'a head that never ends, then close', allow: ERROR, after: 'close' }));
  const endless = `HTTP/1.1 200 OK\r\n${'X-Filler: aaaaaaaaaaaaaaaaaaaa\r\n'.repeat(5_000)}`;
  cases.push(make(g, endless, { name: '150 KiB of head that never ends', allow: ERROR, after: 'hold' }));
  return cases;
}

export function reasonPhraseCases(): AnswerCase[] {
  const g = 'reason phrase';
  const cases = CONTROL_BYTES.map((byte) =>
    make(g, `HTTP/1.1 200 O${String.fromCharCode(byte)}K\r\n${TAIL}`, {
      name: `a reason with ${hex(byte)}`,
      // HTAB is allowed in a reason phrase; a proxy may relay the rest with a clean reason, or refuse them.
      allow: byte === 0x09 ? RELAY : RELAY_OR_ERROR,
      relay: GOOD,
    }),
  );
  cases.push(make(g, `HTTP/1.1 200 ${'a'.repeat(70 * 1024)}\r\n${TAIL}`, { name: 'a reason of 70 KiB', allow: RELAY_OR_ERROR, relay: GOOD }));
  cases.push(make(g, `HTTP/1.1 200 ${'a'.repeat(4 * 1024)}\r\n${TAIL}`, { name: 'a reason of 4 KiB', allow: RELAY, relay: GOOD }));
  cases.push(make(g, `HTTP/1.1 200 caf\xe9 \xff\r\n${TAIL}`, { name: 'a reason with obs-text bytes', allow: RELAY, relay: GOOD }));
  cases.push(make(g, [Buffer.from(`HTTP/1.1 200 \u00c7a va \u2713\r\n${TAIL}`)], { name: 'a UTF-8 reason', allow: RELAY, relay: GOOD }));
  cases.push(make(g, `HTTP/1.1 200    \r\n${TAIL}`, { name: 'a reason of spaces', allow: RELAY, relay: GOOD }));
  cases.push(make(g, `HTTP/1.1 200 OK\r\nHTTP/1.1 200 OK\r\n${TAIL}`, { name: 'the status line twice', allow: RELAY_OR_ERROR, relay: GOOD }));
  return cases;
}

export function headerNameCases(): AnswerCase[] {
  const g = 'header name';
  const line = (header: string | Buffer): Array<string | Buffer> =>
    typeof header === 'string'
      ? [`HTTP/1.1 200 OK\r\n${header}\r\n${TAIL}`]
      : [Buffer.concat([Buffer.from('HTTP/1.1 200 OK\r\n'), header, Buffer.from(`\r\n${TAIL}`, 'latin1')])];
  const cases: AnswerCase[] = [];
  for (const [header, name, value] of [
    ['X-A:: v', 'x-a', ': v'],
    ['X-A:v', 'x-a', 'v'],
    ['X-A:   v   ', 'x-a', 'v'],
    ['X:A: v', 'x', 'A: v'],
    ["X-!#$%&'*+.^_`|~: v", "x-!#$%&'*+.^_`|~", 'v'],
  ] as const) {
    cases.push(make(g, line(header), { name: `valid ${JSON.stringify(header)}`, allow: RELAY, relay: { ...GOOD, header: [name, value] } }));
  }
  const invalid: Array<string | Buffer> = [
    'X A: v', 'X-A : v', 'X-A\t: v', ': v', ':x: v', 'X-A', '(X): v', 'X@A: v', 'X/A: v', 'X{A}: v', '"X": v', 'X-\xff: v',
    ' X-A: v', '\tX-A: v', 'X-A: a\r\n b', 'X-A: a\r\n\tb', 'X-A: a\r\n \r\n c', 'X-A: a\r\n  \t  ',
    Buffer.from('X-\u00dcml\u00e4ut: v'),
    ...CONTROL_BYTES.map((byte) => `X${String.fromCharCode(byte)}A: v`),
  ];
  for (const header of invalid) {
    const label = typeof header === 'string' ? JSON.stringify(header) : `UTF-8 ${JSON.stringify(header.toString())}`;
    cases.push(make(g, line(header), { name: `invalid ${label}`, allow: RELAY_OR_ERROR, relay: GOOD }));
  }
  return cases;
}

export function headerValueCases(): AnswerCase[] {
  const g = 'header value';
  const withHeaders = (headers: string): string => `HTTP/1.1 200 OK\r\n${headers}${TAIL}`;
  const cases: AnswerCase[] = [];
  for (const name of ['X-V', 'Set-Cookie']) {
    for (const byte of CONTROL_BYTES) {
      const value = `a${String.fromCharCode(byte)}b`;
      cases.push(
        make(g, withHeaders(`${name}: ${value}\r\n`), {
          name: `${name} with ${hex(byte)}`,
          allow: byte === 0x09 ? RELAY : RELAY_OR_ERROR,
          relay: byte === 0x09 ? { ...GOOD, header: [name.toLowerCase(), value] } : GOOD,
        }),
      );
    }
  }
  cases.push(make(g, withHeaders('X-V:\r\n'), { name: 'an empty value', allow: RELAY, relay: { ...GOOD, header: ['x-v', ''] } }));
  cases.push(make(g, withHeaders('X-V: caf\xe9 \xff\r\n'), { name: 'obs-text bytes', allow: RELAY, relay: { ...GOOD, header: ['x-v', 'caf\xe9 \xff'] } }));
  const long = 'v'.repeat(8 * 1024);
  cases.push(make(g, withHeaders(`X-V: ${long}\r\n`), { name: 'a value of 8 KiB', allow: RELAY, relay: { ...GOOD, header: ['x-v', long] } }));
  cases.push(make(g, withHeaders(`X-V: ${'v'.repeat(100 * 1024)}\r\n`), { name: 'a value of 100 KiB', allow: RELAY_OR_ERROR, relay: GOOD }));
  const many = (count: number): string => Array.from({ length: count }, (_, i) => `X-H-${i}: ${i}\r\n`).join('');
  cases.push(make(g, withHeaders(many(1_000)), { name: '1 000 headers', allow: RELAY_OR_ERROR, relay: GOOD }));
  cases.push(make(g, withHeaders(many(10_000)), { name: '10 000 headers', allow: RELAY_OR_ERROR, relay: GOOD }));
  cases.push(make(g, withHeaders('Set-Cookie: a=1\r\nSet-Cookie: b=2\r\n'), { name: 'two Set-Cookie', allow: RELAY, relay: GOOD }));
  cases.push(make(g, withHeaders('Content-Type: text/plain\x00; charset=utf-8\r\n'), { name: 'NUL in Content-Type', allow: RELAY_OR_ERROR, relay: GOOD }));
  cases.push(make(g, withHeaders('Location: http://a.example/\nX-Injected: yes\r\n'), { name: 'a bare LF inside Location', allow: RELAY_OR_ERROR, relay: GOOD }));
  cases.push(make(g, withHeaders('Connection: close, X-V\r\nX-V: v\r\n'), { name: 'Connection naming a header', allow: RELAY, relay: GOOD }));
  cases.push(make(g, withHeaders('Connection: close\x00\r\n'), { name: 'NUL in Connection', allow: RELAY_OR_ERROR, relay: GOOD }));
  return cases;
}

export function framingCases(): AnswerCase[] {
  const g = 'framing';
  const ok = 'HTTP/1.1 200 OK\r\n';
  const chunkedBody = `a\r\n${BODY}\r\n0\r\n\r\n`;
  const cases: AnswerCase[] = [];
  const add = (name: string, bytes: string | ReadonlyArray<string | Buffer>, spec: Omit<Spec, 'name'>): void => void cases.push(make(g, bytes, { name, ...spec }));

  add('Content-Length and Transfer-Encoding', `${ok}Content-Length: 10\r\nTransfer-Encoding: chunked\r\n\r\n${chunkedBody}`, { allow: RELAY_OR_ERROR, relay: GOOD });
  add('Transfer-Encoding and Content-Length', `${ok}Transfer-Encoding: chunked\r\nContent-Length: 10\r\n\r\n${chunkedBody}`, { allow: RELAY_OR_ERROR, relay: GOOD });
  add('Transfer-Encoding and a too short Content-Length', `${ok}Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n${chunkedBody}`, {
    allow: RELAY_OR_ERROR,
    relay: GOOD,
  });
  add('two different Content-Lengths', `${ok}Content-Length: 10\r\nContent-Length: 11\r\n\r\n${BODY}x`, { allow: ERROR });
  add('two equal Content-Lengths', `${ok}Content-Length: 10\r\nContent-Length: 10\r\n\r\n${BODY}`, { allow: RELAY_OR_ERROR, relay: GOOD });
  add('Content-Length: 10, 10', `${ok}Content-Length: 10, 10\r\n\r\n${BODY}`, { allow: RELAY_OR_ERROR, relay: GOOD });
  add('Content-Length: "10,"', `${ok}Content-Length: 10,\r\n\r\n${BODY}`, { allow: RELAY_OR_ERROR, relay: GOOD });
  add('Content-Length: 10, 11', `${ok}Content-Length: 10, 11\r\n\r\n${BODY}x`, { allow: ERROR });
  for (const value of ['-1', 'abc', '1e3', '+10', '0x0a', '1 0', '10a', '', '1.0', '\u0661\u0660']) {
    add(`Content-Length: ${JSON.stringify(value)}`, [Buffer.from(`${ok}Content-Length: ${value}\r\n\r\n${BODY}`)], { allow: ERROR });
  }
  for (const value of ['010', '0000000010', '  10', '10  ']) {
    add(`Content-Length: ${JSON.stringify(value)} (valid)`, `${ok}Content-Length: ${value}\r\n\r\n${BODY}`, { allow: RELAY, relay: GOOD });
  }
  // Valid (OWS), but a parser may be stricter with framing than with other fields.
  add('Content-Length: "10\\t"', `${ok}Content-Length: 10\t\r\n\r\n${BODY}`, { allow: RELAY_OR_ERROR, relay: GOOD });
  for (const value of ['99999999999999999999', '18446744073709551616', '9007199254740993']) {
    add(`Content-Length: ${value}, then close`, `${ok}Content-Length: ${value}\r\n\r\n${BODY}`, { allow: BROKEN, after: 'close' });
  }
  add('Content-Length folded over two lines', `${ok}Content-Length: 1\r\n 0\r\n\r\n${BODY}`, { allow: RELAY_OR_ERROR, relay: GOOD });

  const chunked = `${ok}Transfer-Encoding: chunked\r\n\r\n`;
  for (const size of ['zz', '-a', '0xa', 'a a', '', 'ffffffffffffffffff', '10000000000000000']) {
    // Broken before any body byte, in the read that brought the head: still a clean 502.
    add(`chunk size ${JSON.stringify(size)}`, `${chunked}${size}\r\n${BODY}\r\n0\r\n\r\n`, { allow: ERROR });
  }
  for (const size of [' a', 'a ', 'A', '00a']) {
    add(`chunk size ${JSON.stringify(size)} (lenient)`, `${chunked}${size}\r\n${BODY}\r\n0\r\n\r\n`, { allow: ANY_SAFE, relay: GOOD });
  }
  for (const extension of [';name=value', ';name="quoted value"', ';a;b;c']) {
    add(`chunk extension ${JSON.stringify(extension)}`, `${chunked}a${extension}\r\n${BODY}\r\n0\r\n\r\n`, { allow: RELAY, relay: GOOD });
  }
  for (const extension of [';\x00', ';\x01\x7f', ';\r', ';\n', `;${'x'.repeat(100 * 1024)}`, ';"unterminated']) {
    add(`chunk extension garbage ${JSON.stringify(extension.slice(0, 12))}`, `${chunked}a${extension}\r\n${BODY}\r\n0\r\n\r\n`, { allow: RELAY_OR_ERROR, relay: GOOD });
  }
  add('chunk data longer than its size', `${chunked}a\r\n${BODY}XX\r\n0\r\n\r\n`, { allow: BROKEN });
  add('chunk data shorter than its size', `${chunked}a\r\nhostile\r\n0\r\n\r\n`, { allow: BROKEN });
  add('chunks with bare LF', `${chunked}a\n${BODY}\n0\n\n`, { allow: ANY_SAFE, relay: GOOD });
  add('chunked without the last chunk, then close', `${chunked}a\r\n${BODY}\r\n`, { allow: BROKEN, after: 'close' });
  add('chunked without the last chunk, then silence', `${chunked}a\r\n${BODY}\r\n`, { allow: BROKEN, after: 'hold' });
  add('chunked without the last chunk, then reset', `${chunked}a\r\n${BODY}\r\n`, { allow: BROKEN, after: 'reset' });
  add('chunked ending at "0\\r\\n", then close', `${chunked}a\r\n${BODY}\r\n0\r\n`, { allow: ANY_SAFE, relay: GOOD, after: 'close' });
  add('chunked with a trailer', `${chunked}a\r\n${BODY}\r\n0\r\nX-Trailer: v\r\n\r\n`, { allow: RELAY, relay: GOOD });
  add('chunked with an invalid trailer', `${chunked}a\r\n${BODY}\r\n0\r\nX T: v\r\n\r\n`, { allow: ANY_SAFE, relay: GOOD });
  add('chunked with a NUL in a trailer', `${chunked}a\r\n${BODY}\r\n0\r\nX-T: a\x00b\r\n\r\n`, { allow: ANY_SAFE, relay: GOOD });
  add('body shorter than Content-Length, then close', `${ok}Content-Length: 20\r\n\r\n${BODY}`, { allow: BROKEN, after: 'close' });
  add('body shorter than Content-Length, then reset', `${ok}Content-Length: 20\r\n\r\n${BODY}`, { allow: BROKEN, after: 'reset' });
  add('body shorter than Content-Length, then silence', `${ok}Content-Length: 20\r\n\r\n${BODY}`, { allow: BROKEN, after: 'hold' });
  add('body longer than Content-Length (a second answer), then close', `${ok}${TAIL}${SMUGGLED_ANSWER}`, { allow: RELAY, relay: GOOD, after: 'close' });
  add('body longer than Content-Length (garbage), then close', `${ok}${TAIL}${'\x00garbage'.repeat(10)}`, { allow: RELAY, relay: GOOD, after: 'close' });
  add('Content-Length: 0 and a second answer, then close', `${ok}Content-Length: 0\r\n\r\n${SMUGGLED_ANSWER}`, {
    allow: RELAY,
    relay: { status: 200, bodies: [''] },
    after: 'close',
  });

  const raw = `a\r\n${BODY}\r\n0\r\n\r\n`;
  // A body read until close may be relayed as it came, or decoded if the proxy took it as chunked.
  const rawOrBody = { status: 200, bodies: [raw, BODY] };
  // A coding other than chunked: its body would reach the client still coded, with the header
  // that says so dropped (the client would take gzip bytes for the content): a 502.
  for (const coding of ['gzip', 'identity', 'chunked, identity', 'chunked, gzip', 'gzip, chunked', 'xchunked', 'chunked;q=1', '"chunked"', 'chunked, chunked', 'chunked,']) {
    add(`Transfer-Encoding: ${coding}, body until close`, `${ok}Transfer-Encoding: ${coding}\r\n\r\n${raw}`, { allow: ERROR, after: 'close' });
  }
  add('Transfer-Encoding: identity, chunked', `${ok}Transfer-Encoding: identity, chunked\r\n\r\n${raw}`, { allow: ERROR });
  add('HEAD answered with Transfer-Encoding: gzip', `${ok}Transfer-Encoding: gzip\r\n\r\n`, { method: 'HEAD', allow: RELAY, relay: { status: 200, bodies: [''] } });
  for (const coding of ['CHUNKED', '  chunked  ']) {
    add(`Transfer-Encoding: ${JSON.stringify(coding)}`, `${ok}Transfer-Encoding: ${coding}\r\n\r\n${raw}`, { allow: RELAY, relay: GOOD });
  }
  // Two fields are one list: chunked twice, which one decoding cannot undo.
  add('Transfer-Encoding: chunked twice', `${ok}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n${raw}`, { allow: ERROR });
  // An empty list element is no coding (RFC 9110 5.6.1), and a blank field none either.
  add('Transfer-Encoding: ", chunked"', `${ok}Transfer-Encoding: , chunked\r\n\r\n${raw}`, { allow: RELAY, relay: GOOD });
  for (const blank of ['', '   ', '\t']) {
    add(`Transfer-Encoding: chunked, then a field ${JSON.stringify(blank)}`, `${ok}Transfer-Encoding: chunked\r\nTransfer-Encoding:${blank}\r\n\r\n${raw}`, { allow: RELAY, relay: GOOD });
  }
  // llhttp decodes chunked only when nothing but spaces follows it: a tab or a NBSP (0xA0)
  // after it, or a NBSP before it, leaves the body chunk-coded, which must not pass as content.
  for (const spelling of ['chunked\t', 'chunked \t', 'chunked\xa0', '\xa0chunked']) {
    add(`Transfer-Encoding: ${JSON.stringify(spelling)}`, `${ok}Transfer-Encoding: ${spelling}\r\n\r\n${raw}`, { allow: ERROR, after: 'close' });
  }
  add('Transfer-Encoding folded, then close', `${ok}Transfer-Encoding:\r\n chunked\r\n\r\n${raw}`, { allow: ANY_SAFE, relay: rawOrBody, after: 'close' });

  const noBody = { status: 204, bodies: [''] };
  add('204 with a Content-Length body, then close', `HTTP/1.1 204 No Content\r\n${TAIL}`, { allow: RELAY, relay: noBody, after: 'close' });
  add('204 with a chunked body, then close', `HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n${raw}`, { allow: RELAY, relay: noBody, after: 'close' });
  add('204 with a body and no framing, then close', `HTTP/1.1 204 No Content\r\n\r\n${BODY}`, { allow: RELAY, relay: noBody, after: 'close' });
  add('304 with a Content-Length body, then close', `HTTP/1.1 304 Not Modified\r\n${TAIL}`, { allow: RELAY, relay: { status: 304, bodies: [''] }, after: 'close' });
  add('HEAD answered with a body, then close', `${ok}${TAIL}`, { method: 'HEAD', allow: RELAY, relay: { status: 200, bodies: [''] }, after: 'close' });
  add('HEAD answered with a chunked body, then close', `${chunked}${raw}`, { method: 'HEAD', allow: RELAY, relay: { status: 200, bodies: [''] }, after: 'close' });
  return cases;
}

export function informationalCases(): AnswerCase[] {
  const g = 'informational';
  const final = `HTTP/1.1 200 OK\r\n${TAIL}`;
  const cases: AnswerCase[] = [];
  const add = (name: string, bytes: string | ReadonlyArray<string>, spec: Omit<Spec, 'name'>): void => void cases.push(make(g, bytes, { name, ...spec }));
  // stickyport never forwards Expect (it answers 100-continue to its client itself), so a 100
  // is one nobody asked for; undici, its upstream client, refuses that as a broken answer. The
  // client then gets a 502 with the reason, never a hang: allowed, and documented.
  add('100 Continue, then 200', `HTTP/1.1 100 Continue\r\n\r\n${final}`, { allow: RELAY_OR_ERROR, relay: GOOD });
  add('100 Continue three times, then 200', `${'HTTP/1.1 100 Continue\r\n\r\n'.repeat(3)}${final}`, { allow: RELAY_OR_ERROR, relay: GOOD });
  add('100 Continue and 200 in two writes', ['HTTP/1.1 100 Continue\r\n\r\n', final], { allow: RELAY_OR_ERROR, relay: GOOD });
  add('102 Processing, then 200', `HTTP/1.1 102 Processing\r\n\r\n${final}`, { allow: RELAY, relay: GOOD });
  add('103 Early Hints, then 200', `HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n${final}`, { allow: RELAY, relay: GOOD });
  add('199, then 200', `HTTP/1.1 199 Whatever\r\n\r\n${final}`, { allow: RELAY, relay: GOOD });
  add('200 interim 100s, then 200', `${'HTTP/1.1 100 Continue\r\n\r\n'.repeat(200)}${final}`, { allow: RELAY_OR_ERROR, relay: GOOD });
  add('103 with an invalid header, then 200', `HTTP/1.1 103 Early Hints\r\nLink: a\x00b\r\n\r\n${final}`, { allow: RELAY_OR_ERROR, relay: GOOD });
  add('100 Continue, then garbage', `HTTP/1.1 100 Continue\r\n\r\n\x00\x01garbage\r\n\r\n`, { allow: ERROR });
  add('100 Continue, then silence', 'HTTP/1.1 100 Continue\r\n\r\n', { allow: ERROR, after: 'hold' });
  const switching = 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n';
  add('101 to a plain GET, then close', switching, { allow: ERROR, after: 'close' });
  add('101 to a plain GET, then silence', switching, { allow: ERROR, after: 'hold' });
  add('101 to a plain GET, then frames', `${switching}\x81\x05hello`, { allow: ERROR, after: 'hold' });
  add('101 to a plain GET, then a 200, then close', `${switching}${final}`, { allow: ERROR, after: 'close' });
  add('101 without headers, then close', 'HTTP/1.1 101 Switching Protocols\r\n\r\n', { allow: ERROR, after: 'close' });
  add('101 without headers, then silence', 'HTTP/1.1 101 Switching Protocols\r\n\r\n', { allow: ERROR, after: 'hold' });
  add('101 with Upgrade alone, then close', 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n', { allow: ERROR, after: 'close' });
  add('101 with Connection alone, then silence', 'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n\r\n', { allow: ERROR, after: 'hold' });
  return cases;
}

/** Every generated case, by group. */
export function allAnswerCases(): Map<string, AnswerCase[]> {
  const groups = new Map<string, AnswerCase[]>();
  for (const generate of [statusLineCases, reasonPhraseCases, headerNameCases, headerValueCases, framingCases, informationalCases]) {
    const cases = generate();
    groups.set(cases[0]!.group, cases);
  }
  return groups;
}
