import type net from 'node:net';

export interface ProtocolHandlers {
  /** A SOCKS client: `first` starts with 0x05 (SOCKS5) or 0x04 (SOCKS4, 4a). */
  readonly socks: (socket: net.Socket, first: Buffer) => void;
  /** Anything else is HTTP: `first` must reach the HTTP parser before any later byte. */
  readonly http: (socket: net.Socket, first: Buffer) => void;
  /**
   * Nothing arrived within Listen.HeadersTimeout: the answer an HTTP client would get from the
   * header timer (a 408). Called only when that timeout is shorter than Listen.IdleTimeout;
   * otherwise a silent connection is closed when it idles out, as before.
   */
  readonly silent: (socket: net.Socket) => void;
}

export interface FirstByteTimeouts {
  readonly headersTimeoutMs: number;
  readonly idleTimeoutMs: number;
}

/**
 * Tells the protocols apart by the first byte a client sends (every port speaks HTTP, SOCKS5
 * and SOCKS4/4a, with no configuration): 0x05 and 0x04 can never start an HTTP request line.
 *
 * Costs one JavaScript read per connection before HTTP's parser takes the socket over (its
 * later reads go straight to llhttp as before), and four listeners that go again with the
 * first byte. The socket's own timer (armed by the listener pool) bounds the wait, so a
 * connection that says nothing costs no timer of its own.
 */
export function routeByFirstByte(socket: net.Socket, handlers: ProtocolHandlers, timeouts: FirstByteTimeouts): void {
  const headerTimerFirst = timeouts.headersTimeoutMs < timeouts.idleTimeoutMs;
  if (headerTimerFirst) socket.setTimeout(timeouts.headersTimeoutMs);
  const detach = (): void => {
    socket.removeListener('data', onData);
    socket.removeListener('timeout', onQuiet);
    socket.removeListener('end', onQuiet);
    socket.removeListener('error', onError);
  };
  const onData = (first: Buffer): void => {
    detach();
    if (headerTimerFirst) socket.setTimeout(timeouts.idleTimeoutMs);
    const version = first[0];
    if (version === 0x05 || version === 0x04) handlers.socks(socket, first);
    else handlers.http(socket, first);
  };
  // Silent until the timer, or closed by the client before saying anything.
  const onQuiet = (): void => {
    detach();
    socket.on('error', onError);
    if (headerTimerFirst && socket.writable && !socket.readableEnded) handlers.silent(socket);
    else socket.destroy();
  };
  const onError = (): void => {
    socket.destroy();
  };
  socket.on('data', onData);
  socket.on('timeout', onQuiet);
  socket.on('end', onQuiet);
  socket.on('error', onError);
}
