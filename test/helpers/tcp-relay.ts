import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import { Transform } from 'node:stream';

export interface TcpRelay {
  /** The relay's own port on 127.0.0.1: connect here instead of to the target. */
  readonly port: number;
  /** Drops every connection and refuses new ones until `restore`: the target is unreachable. */
  cut(): void;
  restore(): void;
  /**
   * Holds the next chunk a client sends that `match` accepts (and everything after it on that
   * connection) until the returned release is called: a command caught on its way to the target.
   */
  holdNext(match: (chunk: Buffer) => boolean): Promise<() => void>;
  close(): Promise<void>;
}

/**
 * A TCP relay to 127.0.0.1:`targetPort` (a real Redis, say), so a test can take the target away
 * from one client alone, at an exact moment, while the test's own client still reaches it directly.
 */
export async function startTcpRelay(targetPort: number): Promise<TcpRelay> {
  let open = true;
  let hold: { match: (chunk: Buffer) => boolean; held: (release: () => void) => void } | undefined;
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
    const gate = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        const waiting = hold;
        if (!waiting || !waiting.match(chunk)) return done(null, chunk);
        hold = undefined;
        waiting.held(() => done(null, chunk));
      },
    });
    client.pipe(gate).pipe(target);
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
    holdNext: (match) => new Promise((held) => (hold = { match, held })),
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
