import http from 'node:http';
import type net from 'node:net';
import { RequestError } from 'proxy-chain';

// Answers on a connection leave in the order their requests came, whatever went wrong with a
// later one: an error for a request pipelined behind others waits for their answers, and a
// request whose own body broke is the one refused.

/**
 * An error answer written through the request's own ServerResponse, so that it leaves after
 * the answers to requests pipelined before it, then the connection closes: a request refused
 * half-read leaves bytes on the connection that must not be read as the next request.
 */
export function answerOrdered(response: http.ServerResponse, error: NodeJS.ErrnoException, realm: string): void {
  if (response.headersSent) {
    response.destroy();
    return;
  }
  const isRequestError = error instanceof RequestError;
  const status = isRequestError ? error.statusCode : 500;
  const body = `${isRequestError ? error.message.trimEnd() : 'internal error in stickyport'}\n`;
  const headers: Record<string, string | number> = {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    ...(isRequestError ? error.headers : {}),
  };
  if (status === 407 && headers['proxy-authenticate'] === undefined) headers['proxy-authenticate'] = `Basic realm="${realm}"`;
  response.shouldKeepAlive = false;
  response.writeHead(status, http.STATUS_CODES[status] ?? 'Error', headers);
  response.end(body);
}

export type SocketWithAnswer = net.Socket & { _httpMessage?: http.ServerResponse | null };

/**
 * Resolves once every answer queued on the connection before `own` (or, without it, every
 * answer queued) has been written, or the connection closed.
 */
export function earlierAnswersWritten(socket: net.Socket, own?: http.ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const check = (): void => {
      const earlier = (socket as SocketWithAnswer)._httpMessage;
      if (!earlier || earlier === own || earlier.writableFinished || socket.destroyed) return resolve();
      let called = false;
      const next = (): void => {
        if (called) return;
        called = true;
        // Node attaches the next queued answer to the socket as this one finishes.
        setImmediate(check);
      };
      earlier.once('finish', next);
      earlier.once('close', next);
    };
    check();
  });
}

/**
 * Runs `then` once every answer already queued on the connection has been written. An answer
 * whose request has not been read to its end yet can never be written (its body is what broke):
 * `broken` gets it instead.
 */
export function afterEarlierAnswers(
  socket: net.Socket,
  then: () => void,
  broken: (response: http.ServerResponse) => void = () => socket.destroy(),
): void {
  const earlier = (socket as SocketWithAnswer)._httpMessage;
  if (!earlier || earlier.writableFinished || socket.destroyed) {
    then();
    return;
  }
  if (!earlier.req.complete) {
    broken(earlier);
    return;
  }
  let called = false;
  const next = (): void => {
    if (called) return;
    called = true;
    // Node attaches the next queued answer to the socket as this one finishes.
    setImmediate(() => afterEarlierAnswers(socket, then, broken));
  };
  earlier.once('finish', next);
  earlier.once('close', next);
}
