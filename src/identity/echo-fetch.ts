import http from 'node:http';
import { isIP } from 'node:net';
import type net from 'node:net';
import { Duplex } from 'node:stream';
import tls from 'node:tls';
import { StickyportError } from '../errors.js';
import { MAX_INTERIM_ANSWERS } from '../upstream/connect-handshake.js';
import { upstreamFailure } from '../upstream/upstream-errors.js';
import { RetiredBeforeSent, type DispatchHandler, type HttpTarget, type OpenTunnel, type UpstreamRoute } from '../upstream/route.js';
import type { UpstreamReads } from '../upstream/upstream-reads.js';

/** What a small request through a session's route brought back. */
export interface Fetched {
  readonly status: number;
  readonly body: string;
}

export interface FetchOptions {
  readonly timeoutMs: number;
  /** An answer body longer than this is cut off, and the request fails unless `cut` says it may. */
  readonly maxBytes: number;
  /** A longer answer is fine: what came is enough (keep-alive requests to any page). */
  readonly cut?: boolean;
  /**
   * For https:// URLs, which go through a tunnel: ties the tunnel's socket to the session, so
   * that a rotation closes it; false when the session is already gone.
   */
  readonly bindTunnel?: (socket: net.Socket) => boolean;
  /**
   * For https:// URLs: asked right before the tunnel handshake carries the session's login, as
   * for a client's tunnel; false (the port rotated meanwhile) and nothing is sent.
   */
  readonly stillCarries?: () => boolean;
  /** Extra TLS options for https:// URLs (tests trust their own CA with it). */
  readonly tls?: tls.ConnectionOptions;
}

const ECHO_HEADERS = ['accept', 'text/plain, application/json;q=0.9, */*;q=0.1', 'user-agent', 'stickyport'];

/**
 * GET `url` through `route`, the session's own way out, as a client's request would go: plain
 * http:// on the session's pool, https:// in a tunnel on the session's route with TLS inside.
 * Bounded in time and size. Errors are StickyportErrors whose messages name the peer, never a
 * password (the route describes its peer without one).
 */
export function fetchThrough(route: UpstreamRoute, url: URL, options: FetchOptions): Promise<Fetched> {
  return url.protocol === 'https:' ? fetchInTunnel(route, url, options) : fetchPlain(route, url, options);
}

function targetOf(url: URL): HttpTarget {
  const hostname = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
  const path = `${url.pathname}${url.search}`;
  return { hostname, port, authority: url.host, absoluteUrl: `http://${url.host}${path}`, path };
}

function fetchPlain(route: UpstreamRoute, url: URL, options: FetchOptions): Promise<Fetched> {
  const target = targetOf(url);
  return new Promise((resolve, reject) => {
    let abort: ((error?: Error) => void) | undefined;
    let status = 0;
    let interims = 0;
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const settle = (error: StickyportError | undefined, stop = false): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (error || stop) abort?.(error);
      if (error) reject(error);
      else resolve({ status, body: Buffer.concat(chunks).toString('utf8') });
    };
    const timer = setTimeout(() => settle(tookTooLong(url, options)), options.timeoutMs);
    timer.unref();
    const handler: DispatchHandler = {
      onConnect(abortRequest) {
        abort = abortRequest;
        if (settled) abortRequest();
      },
      onHeaders(code) {
        if (code < 200 && ++interims > MAX_INTERIM_ANSWERS) {
          settle(new StickyportError('UPSTREAM_PROTOCOL', `${url.host} sent more than ${MAX_INTERIM_ANSWERS} interim (1xx) answers`, { status: 502 }));
          return false;
        }
        status = code;
        return true;
      },
      onData(chunk) {
        size += chunk.length;
        if (size > options.maxBytes) {
          settle(options.cut ? undefined : tooLong(url, options), true);
          return false;
        }
        chunks.push(Buffer.from(chunk));
        return true;
      },
      onComplete() {
        settle(undefined);
      },
      onError(error) {
        settle(upstreamFailure(error, route.describePeer(target), status >= 200 ? 'answer' : 'before'));
      },
    };
    route.dispatch(target, { method: 'GET', headers: [...ECHO_HEADERS, 'host', target.authority], body: null }, handler);
  });
}

async function fetchInTunnel(route: UpstreamRoute, url: URL, options: FetchOptions): Promise<Fetched> {
  const target = targetOf(url);
  const deadline = Date.now() + options.timeoutMs;
  const rotated = (): StickyportError => new StickyportError('UPSTREAM_RESET', 'the session rotated while its echo request was on its way', { status: 502 });
  const opening = route.openTunnel(target.hostname, target.port, options.stillCarries).catch((error: unknown) => {
    throw error instanceof RetiredBeforeSent ? rotated() : error;
  });
  const opened = await withinDeadline(opening, options.timeoutMs, () => tookTooLong(url, options));
  const socket = opened.reads.socket;
  if (options.bindTunnel && !options.bindTunnel(socket)) {
    socket.destroy();
    throw rotated();
  }
  return new Promise((resolve, reject) => {
    const secure = tls.connect({ socket: tunnelStream(opened.reads), servername: isIP(target.hostname) ? undefined : target.hostname, ...options.tls });
    let settled = false;
    const settle = (error: StickyportError | undefined, fetched?: Fetched): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      secure.destroy();
      socket.destroy();
      if (error) reject(error);
      else resolve(fetched!);
    };
    const timer = setTimeout(() => settle(tookTooLong(url, options)), Math.max(1, deadline - Date.now()));
    timer.unref();
    secure.once('error', (error) => settle(upstreamFailure(error, `${url.host} (through the session's route)`)));
    const request = http.request(
      { createConnection: () => secure, method: 'GET', path: target.path, setHost: false, headers: { host: target.authority, connection: 'close', accept: ECHO_HEADERS[1], 'user-agent': ECHO_HEADERS[3] } },
      (answer) => {
        const chunks: Buffer[] = [];
        let size = 0;
        answer.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size <= options.maxBytes) chunks.push(chunk);
          else if (options.cut) settle(undefined, { status: answer.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') });
          else settle(tooLong(url, options));
        });
        answer.once('end', () => settle(undefined, { status: answer.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        answer.once('error', (error) => settle(upstreamFailure(error, url.host)));
      },
    );
    request.once('error', (error) => settle(upstreamFailure(error, `${url.host} (through the session's route)`)));
    request.end();
  });
}

/**
 * A Duplex over a tunnel's upstream socket, for TLS to run on: the tunnel hands reads out as
 * views of a reused buffer (upstream-reads.ts), which are copied here.
 */
function tunnelStream(reads: UpstreamReads): Duplex {
  const { socket } = reads;
  const stream = new Duplex({
    read() {
      socket.resume();
    },
    write(chunk: Buffer, _encoding, done) {
      socket.write(chunk, done);
    },
    final(done) {
      socket.end();
      done();
    },
    destroy(error, done) {
      socket.destroy();
      done(error);
    },
  });
  reads.take((chunk) => stream.push(Buffer.from(chunk)));
  socket.once('end', () => stream.push(null));
  socket.once('error', (error) => stream.destroy(error));
  socket.once('close', () => stream.destroy());
  return stream;
}

/**
 * Opening the tunnel counts against Identity.Timeout too (the route's own bound is
 * Upstream.ConnectTimeout, which may be longer). A tunnel that opens after the deadline is closed.
 */
function withinDeadline(opening: Promise<OpenTunnel>, timeoutMs: number, late: () => StickyportError): Promise<OpenTunnel> {
  return new Promise((resolve, reject) => {
    let expired = false;
    const timer = setTimeout(() => {
      expired = true;
      reject(late());
    }, timeoutMs);
    timer.unref();
    opening.then(
      (opened) => {
        clearTimeout(timer);
        if (expired) opened.reads.socket.destroy();
        else resolve(opened);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

function tookTooLong(url: URL, options: FetchOptions): StickyportError {
  return new StickyportError('UPSTREAM_TIMEOUT', `${url.host} did not answer in full within Identity.Timeout (${options.timeoutMs} ms)`, { status: 504 });
}

function tooLong(url: URL, options: FetchOptions): StickyportError {
  return new StickyportError('UPSTREAM_PROTOCOL', `${url.host} answered more than ${options.maxBytes} bytes: not an echo answer`, { status: 502 });
}
