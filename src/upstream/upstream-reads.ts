import net from 'node:net';

// Node gives every socket read a freshly allocated 64 KiB buffer. On a bulk tunnel that churn,
// not the copying, was most of the proxy's CPU: V8 ran a full GC every 64 MB of freed external
// memory and glibc trimmed and regrew its heap, page-faulting on every regrowth (README,
// Performance). Upstream sockets that stickyport opens itself read into one buffer of their own,
// of Node's size. A 256 KiB buffer read bulk downloads in fewer calls (about 10 % more MB/s in
// interleaved runs), but a read that fills the buffer makes all its pages resident for the
// socket's life, so every long-lived tunnel that once carried a download held four times the
// memory (400 such tunnels: +105 MB against +37 MB).
const READ_BUFFER_BYTES = 64 * 1024;
// Closed sockets hand their buffer back for the next one: short tunnels would otherwise bring
// the churn back, one buffer per tunnel. Bounded, so a burst does not pin memory for good.
const SPARE_BUFFERS_MAX = 64;
const spareBuffers: Buffer[] = [];

/**
 * Receives what the upstream sends. `chunk` may be a view of a reused buffer: it is valid only
 * during the call, so copy what you keep. Returning false pauses the socket until `resume()`.
 */
export type ChunkSink = (chunk: Buffer) => boolean;

/** The read side of an upstream socket, as chunks handed to a replaceable sink. */
export class UpstreamReads {
  private held: Buffer[] = [];
  // Until someone takes the bytes: keep a copy and stop reading.
  private readonly keep: ChunkSink = (chunk) => {
    this.held.push(Buffer.from(chunk));
    return false;
  };
  private sink: ChunkSink = this.keep;

  private constructor(readonly socket: net.Socket) {}

  /** net.connect() whose reads land in a buffer of the socket's own, reused for every read. */
  static connect(options: net.TcpNetConnectOpts): UpstreamReads {
    let reads: UpstreamReads | undefined;
    const buffer = spareBuffers.pop() ?? Buffer.allocUnsafe(READ_BUFFER_BYTES);
    const socket = net.connect({
      ...options,
      onread: { buffer, callback: (bytes) => reads!.sink(buffer.subarray(0, bytes)) },
    });
    // By 'close' no write still reads from the buffer: the relay pauses until each write is
    // flushed, and a socket closing mid-write is destroyed, which cancels the write.
    socket.once('close', () => {
      if (spareBuffers.length < SPARE_BUFFERS_MAX) spareBuffers.push(buffer);
    });
    reads = new UpstreamReads(socket);
    return reads;
  }

  /** For a socket made elsewhere (TLS, SOCKS): the same interface over its 'data' events. */
  static fromDataEvents(socket: net.Socket): UpstreamReads {
    const reads = new UpstreamReads(socket);
    socket.on('data', (chunk: Buffer) => {
      if (reads.sink(chunk) === false) socket.pause();
    });
    return reads;
  }

  /** Sends the bytes held so far to `sink`, then every later chunk, and resumes reading. */
  take(sink: ChunkSink): void {
    this.sink = sink;
    const held = this.held;
    this.held = [];
    for (const chunk of held) sink(chunk);
    this.socket.resume();
  }

  /** Holds `already` and whatever comes next, reading no further, until the next take(). */
  hold(already: Buffer): void {
    if (already.length > 0) this.held.push(already);
    this.sink = this.keep;
  }
}
