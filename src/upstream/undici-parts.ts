import diagnostics from 'node:diagnostics_channel';
import { createRequire } from 'node:module';
import os from 'node:os';
import type { Agent as AgentType, Pool as PoolType, buildConnector as BuildConnector } from 'undici';

/**
 * undici's Pool and Agent, loaded from their own modules rather than from `undici`'s index.
 * The index also loads fetch, WebSocket, EventSource, the cache and mock layers, and (through
 * its cookies module) Node's own bundled copy of undici: about 70 ms of compiling at every
 * start, against about 20 ms for the two dispatchers stickyport uses (and their connector). undici has no `exports`
 * map, so the files can be required; they are not a published entry point, so package.json
 * holds undici to 7.30.x, and the suite exercises both on every route.
 */
const require = createRequire(import.meta.url);

export const Pool: typeof PoolType = require('undici/lib/dispatcher/pool.js');
export const Agent: typeof AgentType = require('undici/lib/dispatcher/agent.js');
export const buildConnector: typeof BuildConnector = require('undici/lib/core/connect.js');
export type Pool = PoolType;
export type Agent = AgentType;

const { kParser } = require('undici/lib/core/symbols.js') as { kParser: symbol };

type ParserState = { socket?: { errored?: NodeJS.ErrnoException | null }; statusCode: number; shouldKeepAlive: boolean; headers: Buffer[] };
type ParserPrototype = {
  onStatus(buf: Buffer): number;
  onMessageComplete(this: ParserState): number;
  finish(this: ParserState): Error | null;
};

/**
 * Three repairs to undici 7.30's HTTP/1.1 parser. Its class is not exported: the prototype is
 * patched once, from the first connection's parser (the channel is undici's own; Node's bundled
 * copy publishes on it too, with its own symbols, and is left alone).
 *
 * - A reason phrase that arrives in two reads kept only its last piece (llhttp reports each
 *   piece; onStatus assigned instead of appending): `404 Not` + ` Found` reached the client as
 *   `404  Found`. The parser resets the text after each message (interim ones too), so
 *   appending is exact.
 * - An answer without a length (its body ends where the connection ends) was completed on a
 *   TCP reset as on a FIN (a macOS quirk undici works around: `finish()` from its socket's error
 *   handler), so a body the upstream broke off reached the client as whole. A reset in the middle
 *   of an answer is now that answer's error, as it is for curl, Node's client and Squid: the
 *   socket's error, already recorded on it when its handlers run, is returned as the parse
 *   error, and undici fails the request with it. A reset after a FIN never gets here (the FIN
 *   finished the answer first). A reset that comes in the same wake-up as the last bytes
 *   reaches Node as an end of stream (libuv takes a read short of its buffer plus the hang-up
 *   for the end, and never reads the reset's error), so an end of stream is checked too: the
 *   kernel's socket is then no longer connected (getpeername fails with ENOTCONN), where after
 *   a FIN it still is (CLOSE_WAIT). One system call, made only when an answer without a length
 *   ends. And an end of stream short of a body's length or last chunk is the cut it is, as on
 *   a connection kept alive ("other side closed"), not an answer that "does not match HTTP".
 *   (llhttp_finish fails only for a message left unfinished.)
 * - A `Connection: close` (or `Proxy-Connection: close`) among a chunked answer's trailers is
 *   taken to heart by llhttp, which then refuses any further answer on the connection ("Data
 *   after Connection: close"), while undici, having judged keep-alive from the head, kept the
 *   connection in its pool: the next request went out on it, was served, and its answer was
 *   refused (a 502 for a request the upstream had served). Such a connection is closed once the
 *   answer is complete (undici's own path for an answer that does not keep alive); the
 *   trailers (at completion, the parser's `headers` hold them only) are read only when there
 *   are any.
 */
function repairParser(): void {
  const connected = diagnostics.channel('undici:client:connected');
  const patch = (message: unknown): void => {
    const parser = (message as { socket?: Record<symbol, unknown> }).socket?.[kParser];
    if (parser === undefined || parser === null) return;
    const prototype = Object.getPrototypeOf(parser) as ParserPrototype;
    prototype.onStatus = function onStatus(this: { statusText: string }, buf: Buffer): number {
      this.statusText += buf.toString();
      return 0;
    };
    const finish = prototype.finish;
    prototype.finish = function finishUnlessReset(this) {
      if (this.statusCode) {
        const error = this.socket?.errored;
        if (error?.code === 'ECONNRESET') return error;
        if (error === null && resetUnderEnd(this.socket)) return resetError();
      }
      const ended = finish.call(this);
      return ended === null ? null : endedShort(ended);
    };
    const onMessageComplete = prototype.onMessageComplete;
    prototype.onMessageComplete = function onMessageCompleteClosing(this) {
      if (this.headers.length > 0 && this.statusCode >= 200 && this.shouldKeepAlive && trailersClose(this.headers)) this.shouldKeepAlive = false;
      return onMessageComplete.call(this);
    };
    connected.unsubscribe(patch);
  };
  connected.subscribe(patch);
}

type WriteCallback = (error?: NodeJS.ErrnoException | null) => void;
type Writes = { _writeGeneric(writev: boolean, data: unknown, encoding: string, cb: WriteCallback): unknown; destroyed: boolean };

/**
 * An upstream that answers an upload early (a 413, a provider's 407 or 402) and closes with the
 * body unread makes its kernel reset the connection. The answer is in the receive queue by then,
 * and Linux keeps it readable after the reset; but the next write of the body fails (ECONNRESET,
 * then EPIPE) and Node's stream destroys the socket at that failure, before reading it, so the
 * client got a 502 for an upstream that had answered in full. Such a write failure is held back
 * on undici's connections: the write never completes (undici, waiting for 'drain', writes no
 * more), and the read side runs on. It reads what is queued, then the end of stream or the
 * reset, both of which end the socket: an answer read whole before that was complete, and undici
 * closes a connection whose answer completed while its body was still being written. Without an
 * answer the request fails with the read side's error, as before (a 502 saying the connection
 * closed while the body was still going up). A connection whose write fails has no more to send,
 * and a reset connection no more to receive than its queue, so nothing waits longer than the
 * queue takes to read (and undici's own timeouts still run).
 */
function keepReadingPastWriteError(message: unknown): void {
  const socket = (message as { socket?: Writes & Record<symbol, unknown> }).socket;
  if (socket?.[kParser] === undefined) return; // Node's bundled undici: not ours
  const writeGeneric = socket._writeGeneric;
  // Node's Writable hands every write the same callback (its state's onwrite): one wrapper each.
  let onwrite: WriteCallback | undefined;
  let holding: WriteCallback | undefined;
  socket._writeGeneric = function writeHoldingPeerLoss(this: Writes, writev, data, encoding, cb) {
    if (cb !== onwrite) {
      const written = (onwrite = cb);
      holding = (error) => {
        if (error !== null && error !== undefined && !socket.destroyed && (error.code === 'EPIPE' || error.code === 'ECONNRESET')) return;
        written(error);
      };
    }
    return writeGeneric.call(this, writev, data, encoding, holding!);
  };
}

type SocketWithHandle = { _handle?: { getpeername?: (out: object) => number } | null } | undefined;
const ENOTCONN = -os.constants.errno.ENOTCONN;

/** Whether the connection of a socket that just read its end of stream was reset (see repairParser). */
export function resetUnderEnd(socket: object | undefined): boolean {
  const handle = (socket as SocketWithHandle)?._handle;
  return handle?.getpeername !== undefined && handle.getpeername({}) === ENOTCONN;
}

/** What Node gives for a reset read: the error the request fails with. */
function resetError(): NodeJS.ErrnoException {
  return Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET', errno: -os.constants.errno.ECONNRESET, syscall: 'read' });
}

/** undici's error for a connection that ended in the middle of an answer, with the parser's verdict as its cause. */
function endedShort(verdict: Error): Error {
  return Object.assign(new Error('other side closed'), { name: 'SocketError', code: 'UND_ERR_SOCKET', cause: verdict });
}

/** Whether trailers (a flat list of names and values) hold the close option as llhttp reads it. */
function trailersClose(trailers: Buffer[]): boolean {
  for (let i = 0; i + 1 < trailers.length; i += 2) {
    const name = trailers[i]!.toString('latin1').toLowerCase();
    if (name !== 'connection' && name !== 'proxy-connection') continue;
    if (trailers[i + 1]!.toString('latin1').split(',').some((option) => option.trim().toLowerCase() === 'close')) return true;
  }
  return false;
}

repairParser();
// Per connection (not the parser's prototype): see keepReadingPastWriteError.
diagnostics.channel('undici:client:connected').subscribe(keepReadingPastWriteError);
