import net from 'node:net';

/** What a client read off the wire for one request. */
export type WireAnswer =
  | {
      readonly kind: 'answer';
      readonly status: number;
      readonly reason: string;
      /** Lower-cased names, values as sent (latin1). */
      readonly headers: ReadonlyArray<readonly [string, string]>;
      readonly body: Buffer;
      /** 1xx interim answers that came before this one. */
      readonly interim: readonly number[];
    }
  /** The connection closed before a complete answer; `afterHead` when a valid head had arrived. */
  | { readonly kind: 'cut'; readonly afterHead: boolean; readonly raw: string }
  | { readonly kind: 'timeout'; readonly raw: string }
  /** Bytes that are not a valid HTTP/1.1 answer (strict: what a proxy must send downstream). */
  | { readonly kind: 'invalid'; readonly why: string; readonly raw: string };

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const STATUS_LINE = /^HTTP\/1\.[01] ([1-9]\d\d) ([\t\x20-\x7e\x80-\xff]*)$/;

type Parsed = WireAnswer | { kind: 'more' };

/**
 * Parses one answer at the start of `bytes`, strictly by RFC 9112 (CRLF only, token header
 * names, no control bytes, one framing). `closed`: the peer closed, nothing more will come.
 * Returns the answer and how many bytes it used, or `more` when it needs more bytes.
 */
export function parseAnswer(bytes: Buffer, method: string, closed: boolean): { parsed: Parsed; used: number } {
  const interim: number[] = [];
  let offset = 0;
  for (;;) {
    const text = bytes.subarray(offset).toString('latin1');
    const raw = bytes.subarray(0, Math.min(bytes.length, 2000)).toString('latin1');
    if (text.length >= 5 && !text.startsWith('HTTP/')) return done({ kind: 'invalid', why: 'does not start with HTTP/', raw });
    const headEnd = text.indexOf('\r\n\r\n');
    if (headEnd < 0) {
      if (closed) return done({ kind: 'cut', afterHead: false, raw });
      return { parsed: { kind: 'more' }, used: 0 };
    }
    const lines = text.slice(0, headEnd).split('\r\n');
    const status = STATUS_LINE.exec(lines[0]!);
    if (!status) return done({ kind: 'invalid', why: `bad status line ${JSON.stringify(lines[0]!.slice(0, 120))}`, raw });
    const headers: Array<[string, string]> = [];
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      const name = line.slice(0, colon);
      const value = line.slice(colon + 1).replace(/^[\t ]+|[\t ]+$/g, '');
      if (colon <= 0 || !TOKEN.test(name) || !FIELD_VALUE.test(value)) {
        return done({ kind: 'invalid', why: `bad header line ${JSON.stringify(line.slice(0, 120))}`, raw });
      }
      headers.push([name.toLowerCase(), value]);
    }
    const code = Number(status[1]);
    const bodyStart = offset + headEnd + 4;
    if (code >= 100 && code < 200 && code !== 101) {
      interim.push(code);
      offset = bodyStart;
      continue;
    }
    const head = { status: code, reason: status[2]!, headers, interim };
    const body = readBody(bytes, bodyStart, method, head, closed);
    if (body === 'more') return { parsed: { kind: 'more' }, used: 0 };
    if (typeof body === 'string') return done(body === 'cut' ? { kind: 'cut', afterHead: true, raw } : { kind: 'invalid', why: body, raw });
    return { parsed: { kind: 'answer', ...head, body: body.body }, used: body.end };
  }

  function done(parsed: WireAnswer): { parsed: Parsed; used: number } {
    return { parsed, used: bytes.length };
  }
}

interface Head {
  readonly status: number;
  readonly headers: ReadonlyArray<readonly [string, string]>;
}

/** The body after a head: its bytes and where the answer ends, `more`, `cut`, or why it is invalid. */
function readBody(bytes: Buffer, start: number, method: string, head: Head, closed: boolean): { body: Buffer; end: number } | string {
  if (method === 'HEAD' || head.status === 101 || head.status === 204 || head.status === 304) return { body: Buffer.alloc(0), end: start };
  const values = (name: string): string[] => head.headers.filter(([n]) => n === name).map(([, v]) => v);
  const te = values('transfer-encoding');
  const cl = values('content-length');
  if (te.length > 0 && cl.length > 0) return 'both Transfer-Encoding and Content-Length';
  if (te.length > 0) {
    const codings = te.join(',').split(',').map((coding) => coding.trim().toLowerCase());
    if (codings.at(-1) !== 'chunked') return closed ? { body: bytes.subarray(start), end: bytes.length } : 'more';
    return readChunked(bytes, start, closed);
  }
  if (cl.length > 0) {
    const lengths = new Set(cl.join(',').split(',').map((value) => value.trim()));
    if (lengths.size !== 1 || !/^\d+$/.test([...lengths][0]!)) return `bad Content-Length ${JSON.stringify(cl)}`;
    const end = start + Number([...lengths][0]);
    if (bytes.length >= end) return { body: bytes.subarray(start, end), end };
    return closed ? 'cut' : 'more';
  }
  return closed ? { body: bytes.subarray(start), end: bytes.length } : 'more';
}

function readChunked(bytes: Buffer, start: number, closed: boolean): { body: Buffer; end: number } | string {
  const pieces: Buffer[] = [];
  let at = start;
  for (;;) {
    const lineEnd = bytes.indexOf('\r\n', at, 'latin1');
    if (lineEnd < 0) return closed ? 'cut' : 'more';
    const line = bytes.subarray(at, lineEnd).toString('latin1');
    const size = /^([0-9a-fA-F]{1,15})(?:[\t ]*;[\t\x20-\x7e\x80-\xff]*)?$/.exec(line);
    if (!size) return `bad chunk size line ${JSON.stringify(line.slice(0, 80))}`;
    const length = parseInt(size[1]!, 16);
    at = lineEnd + 2;
    if (length === 0) {
      // Trailer section: field lines up to an empty line.
      for (;;) {
        const end = bytes.indexOf('\r\n', at, 'latin1');
        if (end < 0) return closed ? 'cut' : 'more';
        const trailer = bytes.subarray(at, end).toString('latin1');
        at = end + 2;
        if (trailer === '') return { body: Buffer.concat(pieces), end: at };
        if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[\t\x20-\x7e\x80-\xff]*$/.test(trailer)) return `bad trailer ${JSON.stringify(trailer)}`;
      }
    }
    if (bytes.length < at + length + 2) return closed ? 'cut' : 'more';
    if (bytes.toString('latin1', at + length, at + length + 2) !== '\r\n') return 'chunk data not followed by CRLF';
    pieces.push(bytes.subarray(at, at + length));
    at += length + 2;
  }
}

/** A raw client connection that reads answers strictly, one at a time, each within a deadline. */
export class WireConnection {
  private buffer = Buffer.alloc(0);
  private ended = false;
  private wake: (() => void) | undefined;

  private constructor(private readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.wake?.();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.ended = true;
      this.wake?.();
    });
  }

  static open(port: number): Promise<WireConnection> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.removeListener('error', reject);
        resolve(new WireConnection(socket));
      });
      socket.once('error', reject);
    });
  }

  get closed(): boolean {
    return this.ended;
  }

  /** Bytes received after the last answer read. */
  pending(): Buffer {
    return this.buffer;
  }

  send(bytes: string | Buffer): void {
    this.socket.write(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes);
  }

  /** The next answer, for a request with `method`; `timeout` if none is complete within `timeoutMs`. */
  read(method: string, timeoutMs: number): Promise<WireAnswer> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => finish({ kind: 'timeout', raw: this.buffer.subarray(0, 2000).toString('latin1') }), timeoutMs);
      const finish = (answer: WireAnswer): void => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve(answer);
      };
      const attempt = (): void => {
        const { parsed, used } = parseAnswer(this.buffer, method, this.ended);
        if (parsed.kind === 'more') return;
        this.buffer = this.buffer.subarray(used);
        finish(parsed);
      };
      this.wake = attempt;
      attempt();
    });
  }

  /** Sends `bytes` and reads the answer. */
  exchange(bytes: string | Buffer, method: string, timeoutMs: number): Promise<WireAnswer> {
    this.send(bytes);
    return this.read(method, timeoutMs);
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** The value of header `name` (lower case), or undefined. */
export function headerOf(answer: WireAnswer, name: string): string | undefined {
  return answer.kind === 'answer' ? answer.headers.find(([n]) => n === name)?.[1] : undefined;
}

/** A short description of an answer for failure messages. */
export function describeAnswer(answer: WireAnswer): string {
  switch (answer.kind) {
    case 'answer': {
      const body = answer.body.toString('latin1');
      const error = headerOf(answer, 'x-stickyport-error');
      return `${answer.status}${error ? ` ${error}` : ''} body ${JSON.stringify(body.length > 80 ? `${body.slice(0, 80)}...` : body)}`;
    }
    case 'cut':
      return `connection closed ${answer.afterHead ? 'after the head' : `with ${answer.raw.length ? JSON.stringify(answer.raw.slice(0, 80)) : 'nothing'} received`}`;
    case 'timeout':
      return `nothing complete within the deadline (received ${JSON.stringify(answer.raw.slice(0, 80))})`;
    case 'invalid':
      return `invalid bytes: ${answer.why}`;
  }
}
