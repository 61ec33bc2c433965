import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';

export interface TcpGate {
  /** The gate's own port on 127.0.0.1: connect here instead of to the target. */
  readonly port: number;
  /** Connections open through the gate, both sides counted. */
  readonly open: number;
  /** New connections wait at the gate, their bytes unread, until release() or drop(). */
  hold(): void;
  /** Resolves once a connection waits at the gate. */
  arrived(): Promise<void>;
  /** The waiting connections go through; so do new ones. */
  release(): void;
  /** The waiting connections are closed before a byte was answered; new ones go through. */
  drop(): void;
  /** Stops listening at once (new connections refused); the open ones stay. */
  refuse(): void;
  close(): Promise<void>;
}

export interface TcpGateOptions {
  /** Held from the start. */
  readonly held?: boolean;
  /** A delay before the `n`th connection (0, 1, 2, ...) goes through, in ms: a slow link. */
  readonly delayMs?: (n: number) => number;
}

/**
 * A TCP relay to 127.0.0.1:`targetPort` that a test can hold, slow down or close in front of an
 * upstream, to land a rotation at an exact moment of a connection's life (its handshake bytes
 * written and waiting, say).
 */
export async function startTcpGate(targetPort: number, options: TcpGateOptions = {}): Promise<TcpGate> {
  let held = options.held ?? false;
  let count = 0;
  const waiting: Array<{ go: () => void; drop: () => void }> = [];
  const arrivals: Array<() => void> = [];
  const sockets = new Set<net.Socket>();
  const track = (socket: net.Socket): void => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  };
  const server = net.createServer((client) => {
    track(client);
    client.on('error', () => client.destroy());
    client.pause();
    const go = (): void => {
      if (client.destroyed) return;
      const target = net.connect(targetPort, '127.0.0.1');
      track(target);
      target.on('error', () => client.destroy());
      target.once('close', () => client.destroy());
      client.once('close', () => target.destroy());
      client.pipe(target);
      target.pipe(client);
      client.resume();
    };
    const delay = options.delayMs?.(count++) ?? 0;
    const pass = delay > 0 ? () => void setTimeout(go, delay) : go;
    if (!held) return pass();
    waiting.push({ go: pass, drop: () => client.destroy() });
    for (const arrived of arrivals.splice(0)) arrived();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    get open() {
      return sockets.size;
    },
    hold: () => void (held = true),
    arrived: () => (waiting.length > 0 ? Promise.resolve() : new Promise<void>((resolve) => arrivals.push(resolve))),
    release: () => {
      held = false;
      for (const { go } of waiting.splice(0)) go();
    },
    drop: () => {
      held = false;
      for (const { drop } of waiting.splice(0)) drop();
    },
    refuse: () => void server.close(),
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        if (server.listening) server.close(() => resolve());
        else resolve();
      }),
  };
}
