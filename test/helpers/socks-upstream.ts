import { once } from 'node:events';
import net from 'node:net';

/** One CONNECT as the SOCKS server received it: how the target was named tells who resolved it. */
export interface SocksConnect {
  readonly version: 4 | 5;
  /** `domain` (SOCKS5 type 3) and `socks4a` carry a name: no DNS query was made by the client. */
  readonly addressType: 'ipv4' | 'ipv6' | 'domain' | 'socks4a';
  readonly host: string;
  readonly port: number;
}

export interface SocksUpstream {
  readonly port: number;
  /** User names of accepted logins, in order. */
  readonly usernames: string[];
  /** Every CONNECT received, in order. */
  readonly connects: SocksConnect[];
  close(): Promise<void>;
}

/**
 * A real SOCKS proxy for tests. SOCKS5 (RFC 1928, with RFC 1929 user/password login): it
 * accepts any user name with `password`. SOCKS4 and 4a: there is no password, any user id is
 * accepted. Either way it records the user name and CONNECTs to the requested target.
 */
export async function startSocksUpstream(password: string): Promise<SocksUpstream> {
  const usernames: string[] = [];
  const connects: SocksConnect[] = [];
  const sockets = new Set<net.Socket>();
  // Half-open both ways, as real SOCKS servers relay: a client's FIN does not cut the answer.
  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    sockets.add(client);
    client.once('close', () => sockets.delete(client));
    client.on('error', () => client.destroy());
    void handshake(client, password, usernames, connects);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as net.AddressInfo).port,
    usernames,
    connects,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

async function handshake(client: net.Socket, password: string, usernames: string[], connects: SocksConnect[]): Promise<void> {
  const reader = byteReader(client);
  const [version, methodCount] = await reader(2);
  if (version === 4) return socks4(client, reader, methodCount!, usernames, connects);
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
  else if (addressType === 4) host = ipv6Text(await reader(16));
  else return void client.destroy();
  const port = (await reader(2)).readUInt16BE(0);
  if (command !== 1) return void client.destroy();
  connects.push({ version: 5, addressType: addressType === 1 ? 'ipv4' : addressType === 3 ? 'domain' : 'ipv6', host, port });

  connectTarget(client, reader, host, port, Buffer.from([5, 0, 0, 1, 127, 0, 0, 1, 0, 0]));
}

/** SOCKS4 CONNECT, and 4a when the address is 0.0.0.x: the host name follows the user id. */
async function socks4(client: net.Socket, reader: ByteReader, command: number, usernames: string[], connects: SocksConnect[]): Promise<void> {
  const port = (await reader(2)).readUInt16BE(0);
  const address = [...(await reader(4))];
  const username = (await readNullTerminated(reader)).toString();
  const named = address[0] === 0 && address[3] !== 0;
  const host = named ? (await readNullTerminated(reader)).toString() : address.join('.');
  if (command !== 1) return void client.end(Buffer.from([0, 0x5b, 0, 0, 0, 0, 0, 0]));
  connects.push({ version: 4, addressType: named ? 'socks4a' : 'ipv4', host, port });
  usernames.push(username);
  connectTarget(client, reader, host, port, Buffer.from([0, 0x5a, 0, 0, 0, 0, 0, 0]));
}

async function readNullTerminated(reader: ByteReader): Promise<Buffer> {
  const bytes: number[] = [];
  for (let byte = (await reader(1))[0]!; byte !== 0; byte = (await reader(1))[0]!) bytes.push(byte);
  return Buffer.from(bytes);
}

function connectTarget(client: net.Socket, reader: ByteReader, host: string, port: number, granted: Buffer): void {
  const target = net.connect({ port, host, allowHalfOpen: true }, () => {
    client.write(granted);
    const rest = reader.rest();
    if (rest.length > 0) target.write(rest);
    client.pipe(target);
    target.pipe(client);
  });
  target.on('error', () => client.destroy());
  client.once('close', () => target.destroy());
  // A clean end is passed on by pipe() once the bytes are out; only a reset cuts the client.
  target.once('close', (hadError) => hadError && client.destroy());
}

function ipv6Text(bytes: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16));
  return groups.join(':');
}

type ByteReader = ReturnType<typeof byteReader>;

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
