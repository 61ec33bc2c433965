import type http from 'node:http';

/** The bytes of a request body read so far. */
export interface BodyCount {
  bytes: number;
}

type Push = (chunk: unknown, encoding?: BufferEncoding) => boolean;

/**
 * Counts a request body as Node's HTTP parser hands it over (`push`), so that the stream's
 * flow is untouched: a 'data' listener would start reading what the upstream client has not
 * asked for yet, and go on reading the rest of a body nobody wants after an early answer.
 * Bytes already parsed and waiting in the stream's buffer count from the start.
 */
export function countBody(request: http.IncomingMessage): BodyCount {
  const count: BodyCount = { bytes: request.readableLength };
  const push = request.push as Push;
  (request as { push: Push }).push = function (this: http.IncomingMessage, chunk, encoding) {
    if (chunk) count.bytes += (chunk as Buffer).length;
    return push.call(this, chunk, encoding);
  };
  return count;
}
