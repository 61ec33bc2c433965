import { UpstreamError } from '../errors.js';

/**
 * Turns a socket-level failure on the way to `peer` (the upstream proxy, or the target itself
 * when there is no upstream) into the 502/504 the client gets, with a short reason.
 */
export function upstreamFailure(error: unknown, peer: string): UpstreamError {
  if (error instanceof UpstreamError) return error;
  const err = error as NodeJS.ErrnoException;
  switch (err.code) {
    case 'ECONNREFUSED':
      return new UpstreamError('UPSTREAM_REFUSED', `${peer} refused the connection`, err);
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_NODATA':
    case 'EAI_NONAME':
      return new UpstreamError('UPSTREAM_UNREACHABLE', `cannot resolve ${peer}`, err);
    case 'ETIMEDOUT':
      return new UpstreamError('UPSTREAM_TIMEOUT', `${peer} timed out`, err);
    case 'ECONNRESET':
    case 'EPIPE':
      return new UpstreamError('UPSTREAM_RESET', `${peer} closed the connection before answering`, err);
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return new UpstreamError('UPSTREAM_UNREACHABLE', `${peer} is unreachable (${err.code})`, err);
    default:
      break;
  }
  if (err.code && /CERT|SIGNATURE|ERR_TLS/.test(err.code)) {
    return new UpstreamError('UPSTREAM_UNREACHABLE', `${peer} presented a TLS certificate that is not trusted (${err.code})`, err);
  }
  const message = err.message ?? String(error);
  if (/authentication failed/i.test(message)) {
    return new UpstreamError('UPSTREAM_AUTH', `${peer} rejected the credentials (SOCKS authentication failed)`, err);
  }
  if (/timed out/i.test(message)) return new UpstreamError('UPSTREAM_TIMEOUT', `${peer} timed out`, err);
  if (/ECONNREFUSED/.test(message)) return new UpstreamError('UPSTREAM_REFUSED', `${peer} refused the connection`, err);
  if (/socket hang up|ECONNRESET|closed/i.test(message)) {
    return new UpstreamError('UPSTREAM_RESET', `${peer} closed the connection before answering`, err);
  }
  return new UpstreamError('UPSTREAM_UNREACHABLE', `${peer} failed: ${err.code ?? message}`, err);
}

export function connectTimeout(peer: string, timeoutMs: number): UpstreamError {
  return new UpstreamError('UPSTREAM_TIMEOUT', `no connection to ${peer} within ${timeoutMs} ms`);
}

/** A proxy answering 407 to us means the provider rejected the credentials of the URL template. */
export function upstreamStatusFailure(status: number, peer: string): UpstreamError {
  if (status === 407 || status === 401) {
    return new UpstreamError('UPSTREAM_AUTH', `${peer} answered ${status}: it rejected the upstream credentials`);
  }
  return new UpstreamError('UPSTREAM_STATUS', `${peer} refused the tunnel with status ${status}`);
}
