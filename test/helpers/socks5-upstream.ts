import { once } from 'node:events';
import net from 'node:net';

export interface Socks5Upstream {
  readonly port: number;
  /** User names of accepted logins, in order. */
  readonly usernames: string[];
  close(): Promise<void>;
}

/**
 * A real SOCKS5 proxy (RFC 1928, with RFC 1929 user/password login) for tests: it accepts any
 * user name with `password`, records it, and CONNECTs to the requested target.
 */
export async function startSocks5Upstream(password: string): Promise<Socks5Upstream> {
  const usernames: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    sockets.add(client);
    client.once('close', () => sockets.delete(client));
    client.on('error', () => client.destroy());
    void handshake(client, password, usernames);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as net.AddressInfo).port,
    usernames,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

async function handshake(client: net.Socket, password: string, usernames: string[]): Promise<void> {
  const reader = byteReader(client);
  const [version, methodCount] = await reader(2);
  const methods = await reader(methodCount!);
  if (version !== 5 || !methods.includes(2)) return void client.end(Buffer.from([5, 0xff]));
  client.write(Buffer.from([5, 2]));

  const [, userLength] = await reader(2);
  const username = (await reader(userLength!)).toString();
  const [passLength] = await reader(1);
  const given = (await reader(passLength!)).toString();
  if (given !== password) return void client.end(Buffer.from([1, 1]));
  usernames.push(username);
  client.write(Buffer.from([1, 0]));

  const [, command, , addressType] = await reader(4);
  let host: string;
  if (addressType === 1) host = [...(await reader(4))].join('.');
  else if (addressType === 3) host = (await reader((await reader(1))[0]!)).toString();
  else return void client.destroy();
  const port = (await reader(2)).readUInt16BE(0);
  if (command !== 1) return void client.destroy();

  const target = net.connect(port, host, () => {
    client.write(Buffer.from([5, 0, 0, 1, 127, 0, 0, 1, 0, 0]));
    const rest = reader.rest();
    if (rest.length > 0) target.write(rest);
    client.pipe(target);
    target.pipe(client);
  });
  target.on('error', () => client.destroy());
  client.once('close', () => target.destroy());
  target.once('close', () => client.destroy());
}

/** Reads exact byte counts from a socket in flowing order; `rest()` hands back what is left over. */
function byteReader(socket: net.Socket) {
  let buffered = Buffer.alloc(0);
  let waiting: { count: number; resolve: (data: Buffer) => void } | undefined;
  const onData = (chunk: Buffer): void => {
    buffered = Buffer.concat([buffered, chunk]);
    drain();
  };
  const drain = (): void => {
    if (waiting && buffered.length >= waiting.count) {
      const { count, resolve } = waiting;
      waiting = undefined;
      const data = buffered.subarray(0, count);
      buffered = buffered.subarray(count);
      resolve(data);
    }
  };
  socket.on('data', onData);
  const read = (count: number): Promise<Buffer> =>
    new Promise((resolve) => {
      waiting = { count, resolve };
      drain();
    });
  read.rest = (): Buffer => {
    socket.removeListener('data', onData);
    return buffered;
  };
  return read;
}
