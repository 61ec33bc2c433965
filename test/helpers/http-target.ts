import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface HttpTarget {
  readonly port: number;
  /** `http://127.0.0.1:PORT`. */
  readonly url: string;
  /** Closes every connection (a proxy keeps its pooled ones open), then stops listening. */
  close(): Promise<void>;
}

/** An HTTP target on 127.0.0.1 whose answers a test scripts with `handler`. */
export async function startHttpTarget(handler: http.RequestListener): Promise<HttpTarget> {
  const server = http.createServer(handler);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
