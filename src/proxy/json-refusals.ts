import http from 'node:http';
import type net from 'node:net';
import { afterEarlierAnswers, answersAhead, closeAfterAnswer, closeOnceAnswered, connectionEnding } from './ordered-answers.js';

// The refusals of stickyport's JSON-speaking HTTP servers (the admin server, the session API
// inside a SOCKS connection): a CONNECT they do not take and bytes that do not parse, each
// answered after the answers owed to requests pipelined before it, then the connection closed.

/**
 * A last answer written on the socket itself (no request object to answer through), then the
 * close at a fixed deadline; nothing when the connection is already ending (an answer before it
 * said `Connection: close`).
 */
export function endWithJson(socket: net.Socket, status: number, body: unknown, deadlineMs: number, extraHeaders = ''): void {
  if (connectionEnding(socket)) {
    socket.destroy();
    return;
  }
  const text = JSON.stringify(body);
  socket.write(
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\n${extraHeaders}content-type: application/json; charset=utf-8\r\n` +
      `content-length: ${Buffer.byteLength(text)}\r\ncache-control: no-store\r\nconnection: close\r\n\r\n${text}`,
  );
  closeAfterAnswer(socket, deadlineMs);
}

/** A CONNECT the server does not take: `status` and `body` in turn, after the answers before it. */
export function refuseConnectInTurn(socket: net.Socket, status: number, body: unknown, deadlineMs: number, extraHeaders = ''): void {
  const refuse = (): void => endWithJson(socket, status, body, deadlineMs, extraHeaders);
  const turn = answersAhead(socket);
  if (turn) void turn.then(refuse);
  else refuse();
}

/**
 * Node's 'clientError' (bytes that do not parse, a head too large or too slow): the answers to
 * the requests before them still go out, then the refusal. Node's own answer would be written
 * at once and the connection cut, losing those answers.
 */
export function refuseBroken(error: NodeJS.ErrnoException, socket: net.Socket, deadlineMs: number): void {
  if (error.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const [status, code, message] =
    error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? [408, 'request_timeout', 'request head not complete in time']
      : error.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'head_too_large', 'request head too large']
        : [400, 'bad_request', `malformed request (${error.code ?? 'parse error'})`];
  afterEarlierAnswers(
    socket,
    () => endWithJson(socket, status, { error: code, message }, deadlineMs),
    // The broken bytes were the latest request's own body: it is the one refused, unless it
    // was answered already (a 405 before its body was read): one answer, then the close.
    (broken) => {
      if (broken.writableEnded) return closeOnceAnswered(broken, deadlineMs);
      if (broken.headersSent) return void broken.destroy();
      const refusal = JSON.stringify({ error: 'bad_request', message: `malformed request body (${error.code ?? 'parse error'})` });
      broken.shouldKeepAlive = false;
      broken.writeHead(400, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(refusal) });
      broken.end(refusal);
    },
  );
}
