import { once } from 'node:events';
import http from 'node:http';
import type net from 'node:net';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  /** The same number = the same TCP connection to the recorder. */
  readonly connectionId: number;
  readonly method: string;
  /** The request target as it arrived: absolute-URI from a proxy, origin-form from anything else. */
  readonly url: string;
  /** Header lines as received, name and value pairs, duplicates kept. */
  readonly rawHeaders: readonly string[];
  /** The body, exactly as the recorder's parser framed it (so far, until `complete`). */
  readonly body: Buffer;
  /** False while the body is still arriving (or if the connection closed before its end). */
  readonly complete: boolean;
}

export interface RecordedConnection {
  readonly id: number;
  /** Every byte received on the connection, in order. */
  readonly chunks: Buffer[];
  /** Parse errors the recorder answered with 400 (bytes that were not one valid request). */
  readonly errors: string[];
}

export interface RequestRecorder {
  readonly port: number;
  /** `127.0.0.1:port`. */
  readonly authority: string;
  /** Requests parsed, in the order their heads arrived. */
  readonly requests: readonly RecordedRequest[];
  readonly connections: Map<number, RecordedConnection>;
  /** All bytes received on a connection, latin1 text. */
  rawText(connectionId: number): string;
  close(): Promise<void>;
}

/**
 * A real HTTP server (Node's own strict parser) that records every request it parsed, with its
 * exact body bytes, and the raw bytes of each connection. It serves as the origin (direct route)
 * or as the upstream proxy itself (HTTP-upstream route): either way it answers each request
 * with `200` and an echo `<METHOD> <target> body=<n>` that says which request it answered (also
 * in the `X-Recorder-Echo` header, `<METHOD> <target>`, for HEAD).
 *
 * A request whose target matches `holdPattern` is answered only when the next request arrives
 * on the same connection (or never, if none does): the slowest backend an attacker could pick,
 * made deterministic. If a proxy let such a request through by desynchronising, the answer it
 * reads for the next request on that upstream connection is this one.
 */
export async function startRequestRecorder(options: { holdPattern?: RegExp } = {}): Promise<RequestRecorder> {
  const requests: Array<{ -readonly [K in keyof RecordedRequest]: RecordedRequest[K] }> = [];
  const connections = new Map<number, RecordedConnection>();
  const ids = new WeakMap<net.Socket, number>();
  const held = new WeakMap<net.Socket, () => void>();
  const sockets = new Set<net.Socket>();
  let nextId = 1;

  const server = http.createServer({ requireHostHeader: false, keepAliveTimeout: 30_000 });
  server.on('connection', (socket: net.Socket) => {
    const connection: RecordedConnection = { id: nextId++, chunks: [], errors: [] };
    ids.set(socket, connection.id);
    connections.set(connection.id, connection);
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('data', (chunk: Buffer) => connection.chunks.push(chunk));
  });
  server.on('clientError', (error: NodeJS.ErrnoException, socket: net.Socket) => {
    connections.get(ids.get(socket) ?? 0)?.errors.push(`${error.code ?? 'ERROR'}: ${error.message}`);
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    else socket.destroy();
  });
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const socket = req.socket;
    const release = held.get(socket);
    if (release) {
      held.delete(socket);
      release();
    }
    const entry = { connectionId: ids.get(socket) ?? 0, method: req.method!, url: req.url!, rawHeaders: req.rawHeaders, body: Buffer.alloc(0), complete: false };
    requests.push(entry);
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    const ended = new Promise<Buffer>((resolve) =>
      req.once('end', () => {
        entry.body = Buffer.concat(chunks);
        entry.complete = true;
        resolve(entry.body);
      }),
    );
    const answer = async (): Promise<void> => {
      const body = await ended;
      const echo = `${req.method} ${req.url} body=${body.length}`;
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(echo), 'x-recorder-echo': `${req.method} ${req.url}` });
      res.end(echo);
    };
    // Held: released (answered) by the next request on this connection, before that one.
    if (options.holdPattern?.test(req.url!)) held.set(socket, () => void answer());
    else void answer();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    port,
    authority: `127.0.0.1:${port}`,
    requests,
    connections,
    rawText: (id) => Buffer.concat(connections.get(id)?.chunks ?? []).toString('latin1'),
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
