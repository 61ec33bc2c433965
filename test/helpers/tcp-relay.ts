import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';

export interface TcpRelay {
  /** The relay's own port on 127.0.0.1: connect here instead of to the target. */
  readonly port: number;
  /** Drops every connection and refuses new ones until `restore`: the target is unreachable. */
  cut(): void;
  restore(): void;
  close(): Promise<void>;
}

/**
 * A TCP relay to 127.0.0.1:`targetPort` (a real Redis, say), so a test can take the target away
 * from one client alone, at an exact moment, while the test's own client still reaches it directly.
 */
export async function startTcpRelay(targetPort: number): Promise<TcpRelay> {
  let open = true;
  const sockets = new Set<net.Socket>();
  const track = (socket: net.Socket): void => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
  };
  const server = net.createServer((client) => {
    track(client);
    if (!open) {
      client.destroy();
      return;
    }
    const target = net.connect(targetPort, '127.0.0.1');
    track(target);
    client.once('close', () => target.destroy());
    target.once('close', () => client.destroy());
    client.pipe(target);
    target.pipe(client);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    cut() {
      open = false;
      for (const socket of sockets) socket.destroy();
    },
    restore() {
      open = true;
    },
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
