import type http from 'node:http';

/**
 * Header fields one request may carry (HAProxy, Apache and Envoy allow about 100). The 16 KiB
 * head limit counts names and values only: 15 000 empty fields fit in it and cost 0.7 MB of heap
 * each as parsed strings, and 90 connections pipelining such requests, read nothing, took the
 * process past its heap limit.
 */
export const MAX_HEADER_FIELDS = 256;

/**
 * Node keeps the first fields only (2 000 by default) and drops the rest unseen, while its
 * parser still frames the body by a Content-Length among them. A server that parses client
 * requests keeps one more than the limit, so a request past it is seen and refused whole.
 */
export function limitHeaderFields(server: http.Server): void {
  server.maxHeadersCount = MAX_HEADER_FIELDS + 1;
}

/** More than MAX_HEADER_FIELDS in a raw name, value, name, value... list (a head's or trailers'). */
export function overFieldLimit(raw: { readonly length: number }): boolean {
  return raw.length > 2 * MAX_HEADER_FIELDS;
}

/** More fields than MAX_HEADER_FIELDS, on a server set up by limitHeaderFields. */
export function tooManyFields(request: http.IncomingMessage): boolean {
  return overFieldLimit(request.rawHeaders);
}

export const TOO_MANY_FIELDS = `too many header fields: at most ${MAX_HEADER_FIELDS}`;
