/** What a case's bytes are built from: its own target, smuggled request and pipelined request. */
export interface Markers {
  /** `127.0.0.1:port` of the recorder: the Host of every request. */
  readonly authority: string;
  /** Absolute URI of the attack request, path `/attack-<id>`. */
  readonly url: string;
  /** Absolute URI of a request the attacker pipelines on purpose, path `/second-<id>`. */
  readonly second: string;
  /** A complete origin-form request, `GET /smuggled-<id>`: it must never reach the upstream as a request. */
  readonly smuggled: string;
}

export interface SmugglingCase {
  readonly name: string;
  readonly bytes: (m: Markers) => string;
  /**
   * The bodies the one forwarded attack request may carry (the framing the proxy may choose).
   * Absent: the proxy must refuse the request (400-class) and send nothing upstream.
   */
  readonly forwards?: (m: Markers) => readonly string[];
  /** False when the request is valid and must be forwarded. */
  readonly mayRefuse?: boolean;
  /** The attacker pipelined `second` on purpose: forwarded, it must reach the upstream too. */
  readonly pipelined?: boolean;
  /** The method of the attack request (HEAD answers carry no body). */
  readonly method?: string;
}

const LAST_CHUNK = '0\r\n\r\n';
const HELLO = 'hello';
const chunk = (data: string): string => `${data.length.toString(16)}\r\n${data}\r\n`;

/** An attack request head: request line, Host, then `lines` (each without its CRLF), then the empty line. */
function head(m: Markers, lines: readonly string[], method = 'POST', version = 'HTTP/1.1'): string {
  return `${method} ${m.url} ${version}\r\nHost: ${m.authority}\r\n${lines.map((line) => `${line}\r\n`).join('')}\r\n`;
}

const refuseOnly = (name: string, bytes: (m: Markers) => string): SmugglingCase => ({ name, bytes });
const either = (name: string, bytes: (m: Markers) => string, forwards: (m: Markers) => readonly string[]): SmugglingCase => ({ name, bytes, forwards });

/** CL.TE and TE.CL: both framing headers on one request. RFC 9112 6.1: TE wins, or refuse. */
function clte(): SmugglingCase[] {
  const clteBody = (m: Markers): string => `${LAST_CHUNK}${m.smuggled}`;
  return [
    either(
      'CL.TE: Content-Length covers a smuggled request, chunked ends before it',
      (m) => head(m, [`Content-Length: ${clteBody(m).length}`, 'Transfer-Encoding: chunked']) + clteBody(m),
      () => [''],
    ),
    either(
      'TE.CL (header order swapped)',
      (m) => head(m, ['Transfer-Encoding: chunked', `Content-Length: ${clteBody(m).length}`]) + clteBody(m),
      () => [''],
    ),
    either(
      'TE.CL: chunked covers a smuggled request, Content-Length: 4 ends before it',
      (m) => head(m, ['Transfer-Encoding: chunked', 'Content-Length: 4']) + chunk(m.smuggled) + LAST_CHUNK,
      (m) => [m.smuggled],
    ),
    either(
      'TE.CL with Content-Length: 0',
      (m) => head(m, ['Content-Length: 0', 'Transfer-Encoding: chunked']) + chunk(m.smuggled) + LAST_CHUNK,
      (m) => [m.smuggled],
    ),
  ];
}

/**
 * TE.TE: a Transfer-Encoding one parser may not recognise, next to a Content-Length that covers
 * `0\r\n\r\n` and a smuggled request. Where chunked is not the final coding the request must be
 * refused (RFC 9112 6.3); where it is, the proxy may also take it as chunked (an empty body).
 */
function tete(): SmugglingCase[] {
  const body = (m: Markers): string => `${LAST_CHUNK}${m.smuggled}`;
  const cl = (m: Markers): string => `Content-Length: ${body(m).length}`;
  const refused: Array<[string, string[]]> = [
    ['Transfer-Encoding: xchunked', ['Transfer-Encoding: xchunked']],
    ['Transfer-Encoding: chunk', ['Transfer-Encoding: chunk']],
    ['Transfer-Encoding: "chunked"', ['Transfer-Encoding: "chunked"']],
    ['Transfer-Encoding: chunked;foo=bar', ['Transfer-Encoding: chunked;foo=bar']],
    ['Transfer-Encoding: chunked, identity', ['Transfer-Encoding: chunked, identity']],
    ['Transfer-Encoding: chunked, then Transfer-Encoding: identity', ['Transfer-Encoding: chunked', 'Transfer-Encoding: identity']],
    ['space before the colon: "Transfer-Encoding : chunked"', ['Transfer-Encoding : chunked']],
    ['a tab before the colon', ['Transfer-Encoding\t: chunked']],
    ['a vertical tab before chunked', ['Transfer-Encoding:\x0bchunked']],
    ['a NUL before chunked', ['Transfer-Encoding:\x00chunked']],
    ['a form feed after chunked', ['Transfer-Encoding: chunked\x0c']],
    ['Transfer-Encoding with a non-ASCII byte', ['Transfer-Encoding: \xffchunked']],
    ['Transfer-Encoding as a continuation of the first header line', [' Transfer-Encoding: chunked']],
  ];
  const chunkedFinal: Array<[string, string[]]> = [
    ['Transfer-Encoding:  chunked (two spaces)', ['Transfer-Encoding:  chunked']],
    ['Transfer-Encoding: chunked\\t (trailing tab)', ['Transfer-Encoding: chunked\t']],
    ['Transfer-Encoding: CHUNKED', ['Transfer-Encoding: CHUNKED']],
    ['Transfer-Encoding: identity, chunked', ['Transfer-Encoding: identity, chunked']],
    ['Transfer-Encoding: x, then Transfer-Encoding: chunked', ['Transfer-Encoding: x', 'Transfer-Encoding: chunked']],
    ['Transfer-Encoding: chunked twice', ['Transfer-Encoding: chunked', 'Transfer-Encoding: chunked']],
    ['Transfer-Encoding folded: "Transfer-Encoding:\\r\\n chunked"', ['Transfer-Encoding:', ' chunked']],
  ];
  return [
    ...refused.map(([name, lines]) => refuseOnly(`TE.TE ${name}`, (m) => head(m, [cl(m), ...lines]) + body(m))),
    ...refused.slice(0, 5).map(([name, lines]) => refuseOnly(`TE alone: ${name}`, (m) => head(m, lines) + chunk(HELLO) + LAST_CHUNK + m.smuggled)),
    ...chunkedFinal.map(([name, lines]) => either(`TE.TE ${name}`, (m) => head(m, [cl(m), ...lines]) + body(m), () => [''])),
    either('TE.TE a bare LF before Transfer-Encoding', (m) => head(m, [`${cl(m)}\nTransfer-Encoding: chunked`]) + body(m), () => ['']),
    // Not a Transfer-Encoding at all: Content-Length frames it.
    either('Transfer_Encoding (underscore) is another header', (m) => head(m, [cl(m), 'Transfer_Encoding: chunked']) + body(m), (m) => [body(m)]),
  ];
}

/** Content-Length values and duplicates; the body is `hello` followed by a smuggled request. */
function contentLength(): SmugglingCase[] {
  const send = (lines: string[]) => (m: Markers): string => head(m, lines) + HELLO + m.smuggled;
  const hello = (): readonly string[] => [HELLO];
  return [
    either('Content-Length: 5 twice', send(['Content-Length: 5', 'Content-Length: 5']), hello),
    either('Content-Length: 5, 5', send(['Content-Length: 5, 5']), hello),
    refuseOnly('Content-Length: 5 and Content-Length: 6', send(['Content-Length: 5', 'Content-Length: 6'])),
    refuseOnly('Content-Length: 5 and content-length: 60', send(['Content-Length: 5', 'content-length: 60'])),
    refuseOnly('Content-Length: 5, 6', send(['Content-Length: 5, 6'])),
    refuseOnly('Content-Length: +5', send(['Content-Length: +5'])),
    refuseOnly('Content-Length: 0x5', send(['Content-Length: 0x5'])),
    refuseOnly('Content-Length: -5', send(['Content-Length: -5'])),
    refuseOnly('Content-Length: 5a', send(['Content-Length: 5a'])),
    refuseOnly('Content-Length: 5.0', send(['Content-Length: 5.0'])),
    refuseOnly('Content-Length: 5 5', send(['Content-Length: 5 5'])),
    refuseOnly('Content-Length: 2^64 + 5 (wraps to 5)', send(['Content-Length: 18446744073709551621'])),
    refuseOnly('Content-Length: 99999999999999999999', send(['Content-Length: 99999999999999999999'])),
    refuseOnly('space before the colon: "Content-Length : 5"', send(['Content-Length : 5'])),
    refuseOnly('a NUL after the value', send(['Content-Length: 5\x00'])),
    refuseOnly('a NUL in the name', send(['Content-Length\x00: 5'])),
    either('Content-Length: "5 " (trailing space)', send(['Content-Length: 5 ']), hello),
    either('Content-Length: 005 (leading zeros)', send(['Content-Length: 005']), hello),
    either('Content-Length folded: "Content-Length:\\r\\n 5"', send(['Content-Length:', ' 5']), hello),
  ];
}

/** Chunked bodies with odd chunk lines; a smuggled request follows the body. */
function chunked(): SmugglingCase[] {
  const send = (body: string) => (m: Markers): string => head(m, ['Transfer-Encoding: chunked']) + body + m.smuggled;
  const hello = (): readonly string[] => [HELLO];
  return [
    refuseOnly('chunk size overflow (2^64 + 5 wraps to 5)', send(`10000000000000005\r\n${HELLO}\r\n${LAST_CHUNK}`)),
    refuseOnly('chunk size 0x5', send(`0x5\r\n${HELLO}\r\n${LAST_CHUNK}`)),
    refuseOnly('chunk size +5', send(`+5\r\n${HELLO}\r\n${LAST_CHUNK}`)),
    refuseOnly('chunk size -5', send(`-5\r\n${HELLO}\r\n${LAST_CHUNK}`)),
    refuseOnly('a NUL after the chunk size', send(`5\x00\r\n${HELLO}\r\n${LAST_CHUNK}`)),
    refuseOnly('a bare CR after the chunk size', send(`5\r${HELLO}\r\n${LAST_CHUNK}`)),
    refuseOnly('chunk data longer than its size', send(`5\r\n${HELLO}XX\r\n${LAST_CHUNK}`)),
    refuseOnly('a chunk extension ending in a bare LF', send(`5;ext\n${HELLO}\r\n${LAST_CHUNK}`)),
    refuseOnly('a chunk extension with an unterminated quote', send(`5;a="x\r\n${HELLO}\r\n${LAST_CHUNK}`)),
    either('chunk size " 5" (leading space)', send(` 5\r\n${HELLO}\r\n${LAST_CHUNK}`), hello),
    either('chunk size "5 " (trailing space)', send(`5 \r\n${HELLO}\r\n${LAST_CHUNK}`), hello),
    either('chunk size 005 (leading zeros)', send(`005\r\n${HELLO}\r\n${LAST_CHUNK}`), hello),
    either('a chunk extension', send(`5;name=value\r\n${HELLO}\r\n${LAST_CHUNK}`), hello),
    either('a chunk extension on the last chunk', send(`5\r\n${HELLO}\r\n0;name=value\r\n\r\n`), hello),
    either('a bare LF after the chunk size', send(`5\n${HELLO}\r\n${LAST_CHUNK}`), hello),
    either('a bare LF after the chunk data', send(`5\r\n${HELLO}\n${LAST_CHUNK}`), hello),
    either('a trailer', send(`5\r\n${HELLO}\r\n0\r\nX-Trailer: v\r\n\r\n`), hello),
    either('a Content-Length trailer', send(`5\r\n${HELLO}\r\n0\r\nContent-Length: 50\r\n\r\n`), hello),
  ];
}

/** Line endings and bytes in the head that parsers disagree on. */
function lineEndings(): SmugglingCase[] {
  const withBody = (lines: string[]) => (m: Markers): string => head(m, [...lines, 'Content-Length: 5']) + HELLO + m.smuggled;
  const hello = (): readonly string[] => [HELLO];
  return [
    either('bare LF line endings', (m) => `POST ${m.url} HTTP/1.1\nHost: ${m.authority}\nContent-Length: 5\n\n${HELLO}${m.smuggled}`, hello),
    refuseOnly('a bare CR ending the request line', (m) => `POST ${m.url} HTTP/1.1\rHost: ${m.authority}\r\nContent-Length: 5\r\n\r\n${HELLO}${m.smuggled}`),
    // Read as a line end it gives two different Content-Lengths; read as a byte, it must become SP (RFC 9110 5.5).
    either('a bare CR hiding a Content-Length', (m) => head(m, ['X-A: a\rContent-Length: 50', 'Content-Length: 5']) + HELLO + m.smuggled, hello),
    either('a NUL in a header value', withBody(['X-A: a\x00b']), hello),
    refuseOnly('a NUL in a header name', withBody(['X-\x00A: b'])),
    refuseOnly('a header line without a colon', withBody(['X-A'])),
    either('an obs-fold continuation line', withBody(['X-A: a', ' b']), hello),
    refuseOnly('space before the colon of Host', (m) => `POST ${m.url} HTTP/1.1\r\nHost : ${m.authority}\r\nContent-Length: 5\r\n\r\n${HELLO}${m.smuggled}`),
    either('two spaces after the method', (m) => `POST  ${m.url} HTTP/1.1\r\nHost: ${m.authority}\r\nContent-Length: 5\r\n\r\n${HELLO}${m.smuggled}`, hello),
    refuseOnly('a space inside the request target', (m) => `POST ${m.url} x HTTP/1.1\r\nHost: ${m.authority}\r\nContent-Length: 5\r\n\r\n${HELLO}${m.smuggled}`),
  ];
}

/** Requests pipelined behind a body, and HTTP/1.0 with Transfer-Encoding. */
function pipelining(): SmugglingCase[] {
  const second = (m: Markers): string => `GET ${m.second} HTTP/1.1\r\nHost: ${m.authority}\r\n\r\n`;
  const valid = (name: string, bytes: (m: Markers) => string, bodies: string[]): SmugglingCase => ({
    name,
    bytes,
    forwards: () => bodies,
    mayRefuse: false,
    pipelined: true,
  });
  return [
    valid('a request pipelined behind a Content-Length body', (m) => head(m, ['Content-Length: 5']) + HELLO + second(m), [HELLO]),
    valid('a request pipelined behind a chunked body', (m) => head(m, ['Transfer-Encoding: chunked']) + chunk(HELLO) + LAST_CHUNK + second(m), [HELLO]),
    { ...valid('a request pipelined behind a GET', (m) => head(m, [], 'GET') + second(m), ['']), method: 'GET' },
    { name: 'a GET without framing followed by an origin-form request', method: 'GET', bytes: (m) => head(m, [], 'GET') + m.smuggled, forwards: () => [''] },
    either(
      'HTTP/1.0 with Transfer-Encoding: chunked',
      (m) => head(m, ['Transfer-Encoding: chunked'], 'POST', 'HTTP/1.0') + chunk(HELLO) + LAST_CHUNK + m.smuggled,
      () => [HELLO],
    ),
    either(
      'HTTP/1.0 with Transfer-Encoding and Content-Length',
      (m) => head(m, ['Transfer-Encoding: chunked', `Content-Length: ${(LAST_CHUNK + m.smuggled).length}`], 'POST', 'HTTP/1.0') + LAST_CHUNK + m.smuggled,
      () => [''],
    ),
  ];
}

/**
 * Framing headers named in Connection: they must not be dropped as hop-by-hop while the body
 * still goes upstream (a GET/HEAD/DELETE/OPTIONS without framing is read as bodiless there).
 */
function connectionNamesFraming(): SmugglingCase[] {
  const cases: SmugglingCase[] = [];
  for (const method of ['GET', 'HEAD', 'DELETE', 'OPTIONS', 'POST']) {
    cases.push({
      name: `${method} with Connection: Content-Length and a body`,
      method,
      bytes: (m) => head(m, ['Connection: Content-Length', `Content-Length: ${m.smuggled.length}`], method) + m.smuggled,
      forwards: (m) => [m.smuggled],
    });
  }
  for (const method of ['GET', 'DELETE', 'OPTIONS']) {
    cases.push({
      name: `${method} with Connection: Transfer-Encoding and a chunked body`,
      method,
      bytes: (m) => head(m, ['Connection: Transfer-Encoding', 'Transfer-Encoding: chunked'], method) + chunk(m.smuggled) + LAST_CHUNK,
      forwards: (m) => [m.smuggled],
    });
  }
  cases.push({
    name: 'GET with Connection: keep-alive, Content-Length, Host',
    method: 'GET',
    bytes: (m) => head(m, ['Connection: keep-alive, Content-Length, Host', `Content-Length: ${m.smuggled.length}`], 'GET') + m.smuggled,
    forwards: (m) => [m.smuggled],
  });
  return cases;
}

/** Host: exactly one, and the one going upstream is the absolute URI's authority. */
function hostHeaders(): SmugglingCase[] {
  const get = (hostLines: string[]) => (m: Markers): string =>
    `GET ${m.url} HTTP/1.1\r\n${hostLines.map((line) => `${line.replace('{authority}', m.authority)}\r\n`).join('')}\r\n`;
  const fixed = (name: string, lines: string[]): SmugglingCase => ({ name, method: 'GET', bytes: get(lines), forwards: () => [''], mayRefuse: false });
  return [
    { name: 'two different Host headers', method: 'GET', bytes: get(['Host: {authority}', 'Host: evil.example']) },
    { name: 'two Host headers, the URI authority second', method: 'GET', bytes: get(['Host: evil.example', 'Host: {authority}']) },
    { name: 'two equal Host headers', method: 'GET', bytes: get(['Host: {authority}', 'Host: {authority}']) },
    fixed('Connection: host', ['Host: {authority}', 'Connection: host']),
    fixed('a Host that differs from the URI', ['Host: evil.example']),
    fixed('a Host that differs from the URI, and Connection: host', ['Host: evil.example', 'Connection: host']),
    { name: 'an empty Host', method: 'GET', bytes: get(['Host:']), forwards: () => [''] },
    { name: 'no Host (HTTP/1.1)', method: 'GET', bytes: get([]), forwards: () => [''] },
  ];
}

/** Every smuggling case (the CL/TE/chunked/CRLF classics, framing named in Connection, Host). */
export function smugglingCases(): SmugglingCase[] {
  return [...clte(), ...tete(), ...contentLength(), ...chunked(), ...lineEndings(), ...pipelining(), ...connectionNamesFraming(), ...hostHeaders()];
}
