import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';

export interface RedisCable {
  /** redis://127.0.0.1:<cable port>: give this to the store under test. */
  readonly url: string;
  /** Drops every connection and refuses new ones until `mend`: Redis is unreachable. */
  cut(): void;
  mend(): void;
  close(): Promise<void>;
}

/**
 * A TCP relay between a store and a real Redis, so a test can take Redis away from that store
 * alone, at an exact moment, while the test's own client still reaches Redis directly.
 */
export async function startRedisCable(redisPort: number): Promise<RedisCable> {
  let connected = true;
  const sockets = new Set<net.Socket>();
  const track = (socket: net.Socket): void => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
  };
  const server = net.createServer((client) => {
    track(client);
    if (!connected) {
      client.destroy();
      return;
    }
    const redis = net.connect(redisPort, '127.0.0.1');
    track(redis);
    client.once('close', () => redis.destroy());
    redis.once('close', () => client.destroy());
    client.pipe(redis);
    redis.pipe(client);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `redis://127.0.0.1:${(server.address() as AddressInfo).port}`,
    cut() {
      connected = false;
      for (const socket of sockets) socket.destroy();
    },
    mend() {
      connected = true;
    },
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
