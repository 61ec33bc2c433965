import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import { afterAll, beforeAll } from 'vitest';
import { startStickyport, type RunningProxy, type Settings } from './stickyport.js';

/**
 * What the hostile server does once it has written an answer's bytes:
 * - `close`: half-closes (FIN) and reads nothing more on that connection;
 * - `reset`: destroys the connection with a TCP RST;
 * - `hold`: keeps the connection open and silent until the server closes;
 * - `keep-alive`: reads the next request head on the same connection and answers it too.
 */
export type HostileAfter = 'close' | 'reset' | 'hold' | 'keep-alive';

export interface HostileAnswer {
  /** Written in order, each with its own write() call. */
  readonly bytes: ReadonlyArray<string | Buffer>;
  readonly after: HostileAfter;
  /** Waits this long between writes (and before `after`); 0 or absent: all at once. */
  readonly gapMs?: number;
}

export interface HostileServer {
  readonly port: number;
  /** `127.0.0.1:port`. */
  readonly authority: string;
  /** Request heads received (request line and headers, latin1), in order of arrival. */
  readonly heads: string[];
  /**
   * Answers requests whose target ends in `/case/<key>`, and CONNECTs to `<key>.case:<port>`,
   * with `answer`.
   */
  answer(key: string, answer: HostileAnswer): void;
  close(): Promise<void>;
}

const CASE_TARGET = /\/case\/([\w.-]+)$/;
const CASE_AUTHORITY = /^([\w-]+)\.case:\d+$/;
const HEAD_END = '\r\n\r\n';

/** The answer to a request that names no case: a well-formed 200 echoing the target, kept alive. */
export function fineAnswer(target: string): string {
  const body = `fine ${target}`;
  return `HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

/**
 * A raw TCP server that plays any HTTP peer a test needs to be hostile: an upstream proxy (it
 * gets absolute-URI requests) or a website (origin-form requests). It reads each request head
 * and answers with the bytes the test chose for the case the target names (`.../case/<key>`),
 * byte for byte, however broken. Any other target gets `fineAnswer`, so the same server also
 * serves the health checks. Request bodies are not expected (the cases send GET and HEAD).
 */
export async function startHostileServer(): Promise<HostileServer> {
  const answers = new Map<string, HostileAnswer>();
  const heads: string[] = [];
  const sockets = new Set<net.Socket>();

  const serve = (socket: net.Socket): void => {
    let buffered = '';
    let done = false;
    const onData = (chunk: Buffer): void => {
      if (done) return;
      buffered += chunk.toString('latin1');
      for (let end = buffered.indexOf(HEAD_END); end >= 0 && !done; end = buffered.indexOf(HEAD_END)) {
        const head = buffered.slice(0, end);
        buffered = buffered.slice(end + HEAD_END.length);
        heads.push(head);
        const target = head.split('\r\n', 1)[0]!.split(' ')[1] ?? '';
        const key = CASE_TARGET.exec(target)?.[1] ?? CASE_AUTHORITY.exec(target)?.[1];
        const answer = key === undefined ? undefined : answers.get(key);
        if (!answer) {
          socket.write(fineAnswer(target));
          continue;
        }
        if (answer.gapMs) {
          done = true;
          void writeSpaced(socket, answer);
          continue;
        }
        for (const bytes of answer.bytes) socket.write(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes);
        if (answer.after === 'keep-alive') continue;
        done = true;
        finish(socket, answer.after);
      }
    };
    socket.on('data', onData);
  };

  const finish = (socket: net.Socket, after: HostileAfter): void => {
    if (after === 'close') socket.end();
    else if (after === 'reset') socket.resetAndDestroy();
  };
  const writeSpaced = async (socket: net.Socket, answer: HostileAnswer): Promise<void> => {
    for (const bytes of answer.bytes) {
      if (socket.destroyed) return;
      socket.write(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes);
      await new Promise((resolve) => setTimeout(resolve, answer.gapMs));
    }
    if (!socket.destroyed) finish(socket, answer.after);
  };

  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    serve(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    port,
    authority: `127.0.0.1:${port}`,
    heads,
    answer: (key, answer) => void answers.set(key, answer),
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/**
 * For a test file: a hostile server as the upstream proxy of an in-process stickyport, started
 * before its tests and stopped after them. The fields are set once beforeAll has run.
 */
export function behindHostileUpstream(settings: Settings = {}): { readonly hostile: HostileServer; readonly proxy: RunningProxy } {
  const stack = {} as { hostile: HostileServer; proxy: RunningProxy; stop?: () => Promise<void> };
  beforeAll(async () => {
    Object.assign(stack, await startBehindHostileUpstream(settings));
  });
  afterAll(() => stack.stop?.());
  return stack;
}

/** A hostile server as the upstream proxy of an in-process stickyport (with `settings` over the stack's). */
export async function startBehindHostileUpstream(settings: Settings = {}): Promise<{ hostile: HostileServer; proxy: RunningProxy; stop(): Promise<void> }> {
  const hostile = await startHostileServer();
  const proxy = await startStickyport({ ...settings, Upstream: { Url: `http://customer-acme-session-{session}:secret@${hostile.authority}`, ...settings.Upstream } });
  return {
    hostile,
    proxy,
    async stop() {
      await proxy.stop();
      await hostile.close();
    },
  };
}
