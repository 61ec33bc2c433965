import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';

export interface TcpServer {
  readonly port: number;
  /** Connections open now (a test that checks nothing is left behind). */
  readonly connections: number;
  /** Destroys every open connection, then stops listening. */
  close(): Promise<void>;
}

/**
 * A raw TCP server on 127.0.0.1 (a target or upstream a test scripts byte by byte) that keeps
 * its connections, so close() never waits for a client that is still connected. Socket errors
 * destroy the socket: a test's server never dies of what it is sent.
 */
export async function startTcpServer(onSocket: (socket: net.Socket) => void): Promise<TcpServer> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    onSocket(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    get connections() {
      return sockets.size;
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
