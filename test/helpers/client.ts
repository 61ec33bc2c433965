import http from 'node:http';
import net from 'node:net';

export interface Answer {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

export function basic(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
}

export interface RequestOptions {
  /** Where the proxy listens: another loopback address lets two instances use the same ports. */
  host?: string;
  method?: string;
  headers?: http.OutgoingHttpHeaders;
  body?: string;
  agent?: http.Agent | false;
}

/** Sends one request to `host` (127.0.0.1):`port` with `path` as the request target (absolute URI for proxying). */
export function request(port: number, path: string, options: RequestOptions = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: options.host ?? '127.0.0.1',
        port,
        path,
        method: options.method ?? 'GET',
        headers: options.headers,
        agent: options.agent ?? false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString() }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

export async function apiJson<T = Record<string, unknown>>(port: number, path: string, domain = 'portmapper'): Promise<T> {
  const answer = await request(port, domain ? `http://${domain}${path}` : path);
  if (answer.status !== 200) throw new Error(`API ${path} answered ${answer.status}: ${answer.body}`);
  return JSON.parse(answer.body) as T;
}

export interface Tunnel {
  readonly status: number;
  readonly socket: net.Socket;
  /** The raw answer head (status line and headers) and anything after it that arrived with it. */
  readonly head: string;
}

/** Opens a CONNECT tunnel through the proxy at `port` to `authority` (host:port). */
export function openTunnel(port: number, authority: string, headers: Record<string, string> = {}): Promise<Tunnel> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'CONNECT', path: authority, headers, agent: false });
    req.once('connect', (res, socket, head) => {
      // A rotation cuts a tunnel with a TCP reset, which reaches the socket as an error: tests
      // judge a tunnel by its close (closed() below), so the error needs a listener.
      socket.on('error', () => undefined);
      resolve({ status: res.statusCode!, socket, head: head.toString() });
    });
    req.once('response', (res) => {
      res.resume();
      resolve({ status: res.statusCode!, socket: res.socket, head: '' });
    });
    req.once('error', reject);
    req.end();
  });
}

/** Sends a CONNECT to `authority` (host:port) through the proxy at `port` and resolves with its status; an opened tunnel is closed at once. */
export function connectStatus(port: number, authority: string, headers: http.OutgoingHttpHeaders = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'CONNECT', path: authority, headers, agent: false });
    req.once('connect', (res, socket) => {
      socket.destroy();
      resolve(res.statusCode!);
    });
    req.once('response', (res) => {
      res.resume();
      resolve(res.statusCode!);
    });
    req.once('error', reject);
    req.end();
  });
}

/** A plain HTTP GET sent inside an open tunnel; `authority` (host:port) goes into the Host header. */
export function getThroughTunnel(socket: net.Socket, authority: string, path = '/'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const options = { path, createConnection: () => socket, setHost: false, headers: { host: authority } };
    const req = http.request(options, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Resolves when `socket` closes (the proxy closed the tunnel). */
export function closed(socket: net.Socket): Promise<void> {
  return socket.closed || socket.destroyed
    ? Promise.resolve()
    : new Promise((resolve) => socket.once('close', () => resolve()));
}

/** What a tunnel brought until it closed: the answer head, the bytes after it, and how it ended. */
export interface TunnelReading {
  readonly head: string;
  readonly data: Buffer;
  /** The far side's end of stream (FIN) arrived. */
  readonly ended: boolean;
  /** A socket error (a reset) arrived, before or after the end. */
  readonly errored: boolean;
}

/** CONNECT to `authority` through the proxy on `port`, send nothing, read until the connection closes. */
export function readTunnelToClose(port: number, authority: string, timeoutMs = 10_000): Promise<TunnelReading> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`));
    const chunks: Buffer[] = [];
    let ended = false;
    let errored = false;
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.once('end', () => (ended = true));
    socket.on('error', () => (errored = true));
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`tunnel to ${authority} did not close within ${timeoutMs} ms (got ${Buffer.concat(chunks).length} bytes)`));
    }, timeoutMs);
    socket.once('close', () => {
      clearTimeout(timer);
      const raw = Buffer.concat(chunks);
      const end = raw.indexOf('\r\n\r\n');
      resolve({ head: raw.subarray(0, end).toString('latin1'), data: raw.subarray(end + 4), ended, errored });
    });
  });
}
