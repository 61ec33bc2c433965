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
