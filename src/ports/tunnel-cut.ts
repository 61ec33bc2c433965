import type net from 'node:net';

const UPSTREAM = Symbol('stickyport.tunnelUpstream');
const CUT = Symbol('stickyport.tunnelCut');
// Two fields on the client socket rather than one object per tunnel: nothing allocated per tunnel.
type Marked = net.Socket & { [UPSTREAM]?: net.Socket; [CUT]?: true };

/**
 * How a rotation closes a tunnel (port-state.ts, retire): both sockets are reset at once. Ending
 * or destroying a socket lets the kernel still send what it holds: on a slow upstream link that
 * was megabytes of a client's upload leaving on the old session after the rotation was
 * answered, ended by a clean FIN, so the provider saw a complete upload. A reset drops it.
 */
export function cutTunnel(client: net.Socket): void {
  const marked = client as Marked;
  marked[CUT] = true;
  const upstream = marked[UPSTREAM];
  if (upstream) resetSocket(upstream);
  resetSocket(client);
}

/** The tunnel's upstream side, once joined to `client`: a cut resets it with the client. */
export function joinedTo(client: net.Socket, upstream: net.Socket): void {
  (client as Marked)[UPSTREAM] = upstream;
}

/** True once a rotation cut this client socket: an upstream side opened for it is reset, not ended. */
export function wasCut(client: net.Socket): boolean {
  return (client as Marked)[CUT] === true;
}

/**
 * Closes `socket` with a TCP reset, dropping what it still holds for its peer. A TLS socket is
 * only destroyed: Node resets plain TCP sockets only (and resetting the TCP socket under a live
 * TLS socket crashed Node 20).
 * A socket ended with nothing left in Node's buffer whose FIN is still on its way out is only
 * destroyed: a reset then fails in Node 20 (EINVAL) after marking the socket destroyed, leaving
 * its descriptor open and 'close' never emitted. The kernel still sends what it had queued: the
 * socket was ended because its own side of the tunnel was complete. Once the shutdown is done
 * ('finish': the FIN is the kernel's), the reset works again, and closes the peer's half left open.
 */
export function resetSocket(socket: net.Socket): void {
  if (socket.destroyed) return;
  if (socket.writableEnded && !socket.writableFinished && socket.writableLength === 0) {
    socket.destroy();
    return;
  }
  try {
    socket.resetAndDestroy();
  } catch {
    socket.destroy();
  }
}
