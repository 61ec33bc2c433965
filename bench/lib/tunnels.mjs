// CONNECT clients run in the bench process itself: tunnel set-up cycles, one bulk tunnel, and
// many idle tunnels. Raw sockets and a tiny HTTP reader, so the client costs the same for
// every candidate and stays cheap next to the proxies it measures.
import net from 'node:net';

const CRLF2 = Buffer.from('\r\n\r\n');

/** The CONNECT request bytes for `target` ("127.0.0.1:PORT"), with an optional proxy login. */
export function connectRequest(target, auth) {
  return Buffer.from(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n${auth ? `Proxy-Authorization: ${auth}\r\n` : ''}\r\n`);
}

/**
 * A SOCKS5 CONNECT to `target` ("127.0.0.1:PORT" or "name:PORT"), sent as curl and browsers do:
 * the greeting (no authentication), then the request once the method is chosen.
 */
export function socks5Request(target) {
  const colon = target.lastIndexOf(':');
  const host = target.slice(0, colon);
  const port = Number(target.slice(colon + 1));
  const ipv4 = /^\d+\.\d+\.\d+\.\d+$/.test(host);
  const address = ipv4 ? Buffer.from([1, ...host.split('.').map(Number)]) : Buffer.concat([Buffer.from([3, host.length]), Buffer.from(host)]);
  return { socks5: true, greeting: Buffer.from([5, 1, 0]), request: Buffer.concat([Buffer.from([5, 1, 0]), address, Buffer.from([port >> 8, port & 255])]) };
}

function isStatus200(head) {
  // "HTTP/1.1 200"
  return head[9] === 0x32 && head[10] === 0x30 && head[11] === 0x30;
}

/**
 * Opens a tunnel through the proxy on `port` and, when `request` is given, sends it through the
 * tunnel and reads one response (Content-Length framed). Resolves { ok, socket, bodyBytes, ms }
 * where ms times the request through the open tunnel; `keep` leaves the socket open. `connect`
 * is an HTTP CONNECT request (connectRequest) or a SOCKS5 one (socks5Request).
 */
export function tunnel(port, connect, { request, keep = false, timeoutMs = 15_000 } = {}) {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1', noDelay: true });
    const socks = !Buffer.isBuffer(connect);
    let phase = socks ? 'method' : 'connect';
    let buffer = null;
    let need = 0;
    let body = 0;
    let sentAt = 0;
    let settled = false;
    const finish = (ok) => {
      if (settled) return;
      settled = true;
      socket.setTimeout(0);
      if (!ok || !keep) socket.destroy();
      resolve({ ok, socket, bodyBytes: body, ms: sentAt ? performance.now() - sentAt : 0 });
    };
    socket.setTimeout(timeoutMs, () => finish(false));
    socket.once('connect', () => socket.write(socks ? connect.greeting : connect));
    socket.on('error', () => finish(false));
    socket.once('close', () => finish(false));
    socket.on('data', (chunk) => {
      if (phase === 'body') {
        body += chunk.length;
        if (body >= need) finish(true);
        return;
      }
      buffer = buffer === null ? chunk : Buffer.concat([buffer, chunk]);
      if (phase === 'method') {
        if (buffer.length < 2) return;
        if (buffer[0] !== 5 || buffer[1] !== 0) return finish(false);
        buffer = buffer.length > 2 ? buffer.subarray(2) : null;
        phase = 'reply';
        socket.write(connect.request);
        if (buffer === null) return;
      }
      if (phase === 'reply') {
        // A reply with an IPv4 bound address, as stickyport sends: 10 bytes.
        if (buffer.length < 10) return;
        if (buffer[1] !== 0) return finish(false);
        buffer = buffer.length > 10 ? buffer.subarray(10) : null;
        return opened();
      }
      const end = buffer.indexOf(CRLF2);
      if (end < 0) return;
      if (!isStatus200(buffer)) return finish(false);
      if (phase === 'connect') {
        buffer = end + 4 < buffer.length ? buffer.subarray(end + 4) : null;
        return opened();
      }
      readResponseHead(end);
    });
    function opened() {
      if (!request) return finish(true);
      phase = 'response';
      sentAt = performance.now();
      socket.write(request);
      if (buffer === null) return;
      const next = buffer.indexOf(CRLF2);
      if (next < 0) return;
      readResponseHead(next);
    }
    function readResponseHead(end) {
      const head = buffer.subarray(0, end).toString('latin1');
      if (!isStatus200(buffer)) return finish(false);
      need = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? NaN);
      if (!Number.isFinite(need)) return finish(false);
      body = buffer.length - end - 4;
      buffer = null;
      phase = 'body';
      if (body >= need) finish(true);
    }
  });
}

/** `concurrency` loops of connect + CONNECT + one GET + close, until `durationMs` is over. */
export async function connectCycles({ port, connect, request, concurrency, durationMs }) {
  const deadline = performance.now() + durationMs;
  let ok = 0;
  let failed = 0;
  const startedAt = performance.now();
  const loop = async () => {
    while (performance.now() < deadline) {
      const result = await tunnel(port, connect, { request });
      if (result.ok) ok++;
      else failed++;
      if (failed > 1_000) return;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  const seconds = (performance.now() - startedAt) / 1000;
  return { cycles: ok, failed, seconds, cyclesPerS: ok / seconds };
}

/** One tunnel carrying `bytes` from the origin's /stream endpoint: MB/s (10^6 bytes). */
export async function bulk({ port, connect, originHost, bytes }) {
  const request = Buffer.from(`GET /stream?bytes=${bytes} HTTP/1.1\r\nHost: ${originHost}\r\n\r\n`);
  const result = await tunnel(port, connect, { request, timeoutMs: 120_000 });
  if (!result.ok || result.bodyBytes < bytes) throw new Error(`bulk tunnel through port ${port} failed after ${result.bodyBytes} bytes`);
  return { bytes, seconds: result.ms / 1000, mbPerS: bytes / 1e6 / (result.ms / 1000) };
}

/** Opens `count` tunnels spread over `ports`, `parallel` at a time; resolves the open sockets. */
export async function openIdle({ ports, connect, count, parallel = 200 }) {
  const sockets = [];
  let failed = 0;
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const port = ports[next++ % ports.length];
      const result = await tunnel(port, connect, { keep: true, timeoutMs: 30_000 });
      if (result.ok) sockets.push(result.socket);
      else failed++;
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, count) }, worker));
  for (const socket of sockets) socket.on('error', () => {});
  return { sockets, failed };
}
