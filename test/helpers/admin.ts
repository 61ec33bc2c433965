import http from 'node:http';
import { freePort } from './ports.js';
import { merge, startStickyport, type RunningProxy, type Settings } from './stickyport.js';

export interface AdminAnswer<T = unknown> {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly text: string;
  readonly json: T;
}

export interface AdminClient {
  readonly url: string;
  readonly port: number;
  get<T = any>(path: string, headers?: http.OutgoingHttpHeaders): Promise<AdminAnswer<T>>;
  post<T = any>(path: string, body?: unknown, headers?: http.OutgoingHttpHeaders): Promise<AdminAnswer<T>>;
}

/** An HTTP client of the admin server at 127.0.0.1:`port`, with an optional bearer token. */
export function adminClient(port: number, token?: string): AdminClient {
  const send = (method: string, path: string, body: unknown, headers: http.OutgoingHttpHeaders = {}): Promise<AdminAnswer<any>> =>
    new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const request = http.request(
        {
          host: '127.0.0.1',
          port,
          method,
          path,
          agent: false,
          headers: {
            ...(token ? { authorization: `Bearer ${token}` } : {}),
            ...(payload ? { 'content-type': 'application/json' } : {}),
            ...headers,
          },
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () => {
            const text = Buffer.concat(chunks).toString();
            let json: unknown;
            try {
              json = JSON.parse(text);
            } catch {
              json = undefined;
            }
            resolve({ status: response.statusCode!, headers: response.headers, text, json });
          });
          response.on('error', reject);
        },
      );
      request.on('error', reject);
      request.end(payload);
    });
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    get: (path, headers) => send('GET', path, undefined, headers),
    post: (path, body, headers) => send('POST', path, body, headers),
  };
}

/** stickyport in-process with the admin server on a free port of its own. */
export async function startWithAdmin(
  overrides: Settings = {},
  options: { portCount?: number; token?: string } = {},
): Promise<RunningProxy & { admin: AdminClient }> {
  const adminPort = await freePort();
  const admin = { Enabled: true, Port: adminPort, ...(options.token ? { Token: options.token } : {}) };
  const proxy = await startStickyport(merge({ Admin: admin }, overrides), { portCount: options.portCount });
  return Object.assign(proxy, { admin: adminClient(adminPort, options.token) });
}

/** The lines of the log with this message, parsed. */
export function logged(lines: readonly string[], msg: string): Array<Record<string, any>> {
  return lines.map((line) => JSON.parse(line) as Record<string, any>).filter((record) => record.msg === msg);
}

/**
 * A client of GET /api/events that reads every event: `next(name)` resolves with the data of the
 * next event of that name; `events` keeps every one so far.
 */
export function eventsClient(port: number) {
  const waiting: Array<{ name: string; resolve: (data: string) => void }> = [];
  const events: Array<{ name: string; data: string }> = [];
  let text = '';
  const req = http.get({ host: '127.0.0.1', port, path: '/api/events', agent: false }, (response) => {
    response.setEncoding('utf8');
    response.on('data', (chunk: string) => {
      text += chunk;
      let end: number;
      while ((end = text.indexOf('\n\n')) >= 0) {
        const block = text.slice(0, end);
        text = text.slice(end + 2);
        const name = /^event: (\w+)/.exec(block)?.[1];
        if (name === undefined) continue;
        const data = /^data: (.*)$/m.exec(block)?.[1] ?? '';
        events.push({ name, data });
        for (const waiter of waiting.filter((candidate) => candidate.name === name)) {
          waiting.splice(waiting.indexOf(waiter), 1);
          waiter.resolve(data);
        }
      }
    });
  });
  const closed = new Promise<void>((resolve) => req.once('close', () => resolve()));
  req.on('error', () => undefined);
  return {
    events,
    closed,
    next: (name: string) => new Promise<string>((resolve) => waiting.push({ name, resolve })),
    close: () => req.destroy(),
  };
}
