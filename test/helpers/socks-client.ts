import net from 'node:net';

/** A target as a SOCKS request names it: an IPv4 or IPv6 address, or a name (SOCKS5 type 3, SOCKS4a). */
export interface SocksTarget {
  readonly host: string;
  readonly port: number;
}

/** SOCKS5 greeting offering `methods` (0 = none, 2 = user name and password). */
export function greeting(...methods: number[]): Buffer {
  return Buffer.from([5, methods.length, ...methods]);
}

/** RFC 1929 login. */
export function login(username: string, password: string): Buffer {
  const user = Buffer.from(username);
  const pass = Buffer.from(password);
  return Buffer.concat([Buffer.from([1, user.length]), user, Buffer.from([pass.length]), pass]);
}

/** SOCKS5 request; the address type follows the host: IPv4, IPv6 or a name. */
export function request5(target: SocksTarget, command = 1): Buffer {
  const family = net.isIP(target.host);
  let address: Buffer;
  if (family === 4) address = Buffer.from([1, ...target.host.split('.').map(Number)]);
  else if (family === 6) address = Buffer.concat([Buffer.from([4]), ipv6Bytes(target.host)]);
  else address = Buffer.concat([Buffer.from([3, Buffer.byteLength(target.host)]), Buffer.from(target.host)]);
  const port = Buffer.alloc(2);
  port.writeUInt16BE(target.port);
  return Buffer.concat([Buffer.from([5, command, 0]), address, port]);
}

/** SOCKS4 request (an IPv4 host), or SOCKS4a (a name: address 0.0.0.1, the name after the user id). */
export function request4(target: SocksTarget, userId = '', command = 1): Buffer {
  const head = Buffer.alloc(8);
  head[0] = 4;
  head[1] = command;
  head.writeUInt16BE(target.port, 2);
  const named = net.isIP(target.host) !== 4;
  if (named) head[7] = 1;
  else target.host.split('.').forEach((part, i) => (head[4 + i] = Number(part)));
  const user = Buffer.concat([Buffer.from(userId), Buffer.from([0])]);
  return named ? Buffer.concat([head, user, Buffer.from(target.host), Buffer.from([0])]) : Buffer.concat([head, user]);
}

function ipv6Bytes(text: string): Buffer {
  const [left, right = ''] = text.split('::');
  const groups = (part: string): string[] => (part === '' ? [] : part.split(':'));
  const head = groups(left!);
  const tail = text.includes('::') ? groups(right) : [];
  const all = [...head, ...Array(8 - head.length - tail.length).fill('0'), ...tail];
  const bytes = Buffer.alloc(16);
  all.forEach((group, i) => bytes.writeUInt16BE(parseInt(group, 16), 2 * i));
  return bytes;
}

/** A raw client socket that reads exact byte counts, for handshakes sent byte by byte. */
export class RawClient {
  private buffered = Buffer.alloc(0);
  private waiter: (() => void) | undefined;
  private ended = false;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffered = Buffer.concat([this.buffered, chunk]);
      this.waiter?.();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.ended = true;
      this.waiter?.();
    });
  }

  static connect(port: number, host = '127.0.0.1'): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ port, host }, () => resolve(new RawClient(socket)));
      socket.once('error', reject);
    });
  }

  send(bytes: Buffer | string): this {
    this.socket.write(bytes);
    return this;
  }

  /** `count` bytes, or fewer when the proxy closes first; rejects after `timeoutMs`. */
  read(count: number, timeoutMs = 5_000): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        reject(new Error(`no ${count} bytes within ${timeoutMs} ms (got ${this.buffered.length})`));
      }, timeoutMs);
      const check = (): void => {
        if (this.buffered.length < count && !this.ended) return;
        clearTimeout(timer);
        this.waiter = undefined;
        const out = this.buffered.subarray(0, count);
        this.buffered = this.buffered.subarray(out.length);
        resolve(out);
      };
      this.waiter = check;
      check();
    });
  }

  /** One HTTP answer framed by Content-Length (the session API's), read off the connection. */
  async readAnswer(timeoutMs = 5_000): Promise<{ status: number; body: string }> {
    const deadline = Date.now() + timeoutMs;
    let end = this.buffered.indexOf('\r\n\r\n');
    while (end < 0) {
      if (this.ended || Date.now() > deadline) throw new Error(`no answer head (got ${JSON.stringify(this.buffered.toString())})`);
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
        setTimeout(resolve, 50);
      });
      end = this.buffered.indexOf('\r\n\r\n');
    }
    const head = (await this.read(end + 4)).toString('latin1');
    const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
    const body = (await this.read(length, Math.max(1, deadline - Date.now()))).toString();
    return { status: Number(head.slice(9, 12)), body };
  }

  /** Resolves with everything still unread once the proxy closed the connection; rejects after `timeoutMs`. */
  untilClosed(timeoutMs = 5_000): Promise<Buffer> {
    return this.read(Number.MAX_SAFE_INTEGER, timeoutMs);
  }

  get closed(): boolean {
    return this.ended;
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/**
 * A complete SOCKS5 CONNECT as a patient client sends it (each message after the previous
 * reply). Resolves with the reply code (or the login status / method refusal) and the client.
 */
export async function socks5Connect(
  port: number,
  target: SocksTarget,
  credentials?: { username: string; password: string },
): Promise<{ stage: 'method' | 'login' | 'reply'; code: number; client: RawClient }> {
  const client = await RawClient.connect(port);
  client.send(credentials ? greeting(0, 2) : greeting(0));
  const method = await client.read(2);
  if (method[1] === 0xff || method.length < 2) return { stage: 'method', code: method[1] ?? -1, client };
  if (method[1] === 2) {
    client.send(login(credentials?.username ?? '', credentials?.password ?? ''));
    const status = await client.read(2);
    if (status[1] !== 0) return { stage: 'login', code: status[1] ?? -1, client };
  }
  client.send(request5(target));
  const reply = await client.read(10);
  return { stage: 'reply', code: reply.length === 10 ? reply[1]! : -1, client };
}

/** A SOCKS4 or 4a CONNECT: resolves with the reply code (0x5A granted, 0x5B refused). */
export async function socks4Connect(port: number, target: SocksTarget, userId = ''): Promise<{ code: number; client: RawClient }> {
  const client = await RawClient.connect(port);
  client.send(request4(target, userId));
  const reply = await client.read(8);
  return { code: reply.length === 8 ? reply[1]! : -1, client };
}
