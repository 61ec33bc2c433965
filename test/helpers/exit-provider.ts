import { once } from 'node:events';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';

/** One request the provider received, with the exit address it went out from. */
export interface ProviderRequest {
  readonly kind: 'http' | 'connect';
  readonly method: string;
  /** Session id from `customer-<name>-session-<id>`; undefined without one. */
  readonly session: string | undefined;
  /** The absolute URL, or the CONNECT authority. */
  readonly target: string;
  /** The local address the provider's outgoing connection was bound to: the session's exit IP. */
  readonly exit: string;
}

/** What the provider does with a request, decided by the test before anything goes out. */
export type Verdict = undefined | 'stall' | { readonly status: number; readonly body?: string };

export interface ExitProvider {
  readonly port: number;
  readonly seen: ProviderRequest[];
  /** The exit address of `session` (given on first sight, derived from the id). */
  addressOf(session: string): string;
  /** Moves `session` to another exit address, as a provider silently swapping an IP does; returns it. */
  swap(session: string): string;
  /** Consulted for every request before it goes out; undefined = forward it. */
  decide: ((request: ProviderRequest) => Verdict) | undefined;
  /** Answers every stalled request (forwarding it). */
  release(): void;
  /** Resolves with the first request seen from now on (or already seen, at index `from` or later) that `test` accepts. */
  waitFor(test: (request: ProviderRequest) => boolean, from?: number): Promise<ProviderRequest>;
  close(): Promise<void>;
}

const SESSION_USER = /-session-([^-:]+)/;

/**
 * A residential-proxy provider in miniature: an authenticating HTTP proxy (password `secret`)
 * that gives every session id its own exit address on 127.77.0.0/16, binding each outgoing
 * socket (plain requests and CONNECT tunnels) to it, so that an origin sees one address per
 * session. `swap` moves a session to another address (drift); `decide` answers, refuses or
 * stalls chosen requests; `seen` records every request with its session and exit.
 */
export async function startExitProvider(): Promise<ExitProvider> {
  const seen: ProviderRequest[] = [];
  const exits = new Map<string, string>();
  const taken = new Set<string>();
  const waiters: Array<{ test: (request: ProviderRequest) => boolean; resolve: (request: ProviderRequest) => void }> = [];
  const stalled: Array<() => void> = [];
  const sockets = new Set<net.Socket>();

  const freeAddress = (seed: number): string => {
    for (let n = seed; ; n++) {
      const address = `127.77.${(n >> 8) % 254 + 1}.${(n % 254) + 1}`;
      if (!taken.has(address)) {
        taken.add(address);
        return address;
      }
    }
  };
  const addressOf = (session: string): string => {
    let address = exits.get(session);
    if (!address) {
      let hash = 2166136261;
      for (const ch of session) hash = Math.imul(hash ^ ch.charCodeAt(0), 16777619) >>> 0;
      address = freeAddress(hash % 60_000);
      exits.set(session, address);
    }
    return address;
  };

  const record = (req: http.IncomingMessage, kind: ProviderRequest['kind']): { request: ProviderRequest; ok: boolean } => {
    const header = req.headers['proxy-authorization'] ?? '';
    const decoded = header.startsWith('Basic ') ? Buffer.from(header.slice(6), 'base64').toString() : '';
    const [username = '', password] = decoded.split(':');
    const session = SESSION_USER.exec(username)?.[1];
    const request: ProviderRequest = { kind, method: req.method!, session, target: req.url!, exit: addressOf(session ?? 'none') };
    seen.push(request);
    for (const waiter of [...waiters]) {
      if (waiter.test(request)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(request);
      }
    }
    return { request, ok: password === 'secret' };
  };

  const provider: ExitProvider = {
    port: 0,
    seen,
    addressOf,
    swap(session) {
      const address = freeAddress(Number.parseInt(addressOf(session).split('.')[3]!, 10) + 7);
      exits.set(session, address);
      return address;
    },
    decide: undefined,
    release() {
      for (const go of stalled.splice(0)) go();
    },
    waitFor(test, from = seen.length) {
      const found = seen.slice(from).find(test);
      return found ? Promise.resolve(found) : new Promise((resolve) => waiters.push({ test, resolve }));
    },
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };

  const server = http.createServer();
  server.on('connection', (socket: net.Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });

  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const { request, ok } = record(req, 'http');
    if (!ok) {
      res.writeHead(407, { 'proxy-authenticate': 'Basic realm="provider"', 'content-length': 0 }).end();
      return;
    }
    const forward = (verdict: Verdict): void => {
      if (verdict && verdict !== 'stall') {
        res.writeHead(verdict.status, { 'content-type': 'text/plain' }).end(verdict.body ?? '');
        return;
      }
      const target = new URL(req.url!);
      const headers = { ...req.headers };
      delete headers['proxy-authorization'];
      delete headers['proxy-connection'];
      const out = http.request(
        { host: target.hostname, port: target.port || 80, path: `${target.pathname}${target.search}`, method: req.method, headers, localAddress: request.exit, agent: false },
        (answer) => {
          res.writeHead(answer.statusCode!, answer.headers);
          answer.pipe(res);
        },
      );
      out.on('error', () => res.destroy());
      req.pipe(out);
    };
    const verdict = provider.decide?.(request);
    if (verdict === 'stall') stalled.push(() => forward(undefined));
    else forward(verdict);
  });

  server.on('connect', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    const { request, ok } = record(req, 'connect');
    socket.on('error', () => socket.destroy());
    if (!ok) {
      socket.end('HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const verdict = provider.decide?.(request);
    if (verdict === 'stall') return;
    if (verdict) {
      socket.end(`HTTP/1.1 ${verdict.status} Refused\r\nContent-Length: 0\r\n\r\n`);
      return;
    }
    const colon = req.url!.lastIndexOf(':');
    const target = net.connect({ host: req.url!.slice(0, colon).replace(/^\[|\]$/g, ''), port: Number(req.url!.slice(colon + 1)), localAddress: request.exit });
    target.on('error', () => socket.destroy());
    socket.on('close', () => target.destroy());
    target.once('connect', () => {
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) target.write(head);
      socket.pipe(target);
      target.pipe(socket);
    });
  });

  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  (provider as { port: number }).port = (server.address() as AddressInfo).port;
  return provider;
}

/** What the echo origin answers for one request: `undefined` = its usual answer. */
export type OriginAnswer = undefined | { readonly status: number; readonly headers?: http.OutgoingHttpHeaders; readonly body?: string | Buffer };

export interface AddressEcho {
  readonly port: number;
  readonly url: string;
  /** Every request: the address it came from and its path. */
  readonly seen: Array<{ readonly address: string; readonly path: string }>;
  /** The country code `/json` gives an address. */
  readonly countries: Map<string, string>;
  /** Consulted for paths other than /ip and /json (a target banning an exit, a captcha page). */
  answer: ((address: string, path: string) => OriginAnswer) | undefined;
  close(): Promise<void>;
}

/**
 * An origin that tells callers the address it sees them come from: `GET /ip` as plain text,
 * `GET /json` as `{"ip": ..., "country_code": ...}`; any other path answers "ok" unless
 * `answer` says otherwise (429 for a banned exit, a captcha page).
 */
export async function startAddressEcho(): Promise<AddressEcho> {
  const echo: AddressEcho = {
    port: 0,
    url: '',
    seen: [],
    countries: new Map(),
    answer: undefined,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  const server = http.createServer((req, res) => {
    const address = req.socket.remoteAddress!.replace(/^::ffff:/, '');
    const path = req.url!;
    echo.seen.push({ address, path });
    if (path === '/ip') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end(`${address}\n`);
      return;
    }
    if (path === '/json') {
      const country = echo.countries.get(address);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(country ? { ip: address, country_code: country } : { ip: address }));
      return;
    }
    const answer = echo.answer?.(address, path);
    if (answer) {
      res.writeHead(answer.status, answer.headers ?? { 'content-type': 'text/plain' }).end(answer.body ?? '');
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  Object.assign(echo, { port, url: `http://127.0.0.1:${port}` });
  return echo;
}
