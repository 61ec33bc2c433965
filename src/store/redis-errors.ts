import { ReplyError } from 'ioredis';
import { StickyportError } from '../errors.js';

/**
 * Error codes (the first word of a Redis error reply, part of the protocol) that say the server
 * cannot serve anyone right now: loading its data set, out of memory, read-only, login refused.
 * Every port would fail alike, so these start an outage like a lost connection does.
 */
const SERVER_CANNOT_SERVE = new Set([
  'LOADING',
  'BUSY',
  'MASTERDOWN',
  'READONLY',
  'OOM',
  'MISCONF',
  'NOAUTH',
  'WRONGPASS',
  'NOPERM',
  'NOREPLICAS',
  'CLUSTERDOWN',
  'TRYAGAIN',
]);

/**
 * A command refused by the user's ACL inside one of the store's scripts: Redis 7 answers that
 * as ERR, not NOPERM, but it is the same refusal, which no other port would escape either.
 */
const SCRIPT_REFUSED = /^ERR The user executing the script can't /;

/** Whether the user's ACL refused a command or key (NOPERM, or its ERR form inside a script). */
export function refusedByAcl(error: unknown): boolean {
  const code = replyCode(error);
  return code === 'NOPERM' || (code === 'ERR' && SCRIPT_REFUSED.test((error as Error).message));
}

/** Codes of a refused login (the URL's user name or password): the server answers, but not us. */
const LOGIN_REFUSED = new Set(['NOAUTH', 'WRONGPASS']);

/** Whether Redis refused the login: an outage that names the login, not the network or the database. */
export function refusedLogin(error: unknown): boolean {
  return LOGIN_REFUSED.has(replyCode(error) ?? '');
}

/** Another instance rewrote a port's key between our read and our write, again and again. */
export class StoreConflictError extends StickyportError {
  constructor(port: number) {
    // A 503 with its reason for the request that met it (it was a 500 logged as a bug): another
    // writer keeps changing the key, which this instance cannot settle.
    super('STORE_UNAVAILABLE', `the Redis key of port ${port} kept changing while a session was being created`, { status: 503 });
    this.name = 'StoreConflictError';
  }
}

/** The code of a Redis error reply (WRONGTYPE, OOM, ...), or undefined for any other error. */
export function replyCode(error: unknown): string | undefined {
  return error instanceof ReplyError ? String((error as Error).message).split(' ', 1)[0] : undefined;
}

/**
 * Whether a failed command means Redis cannot be used at all (serve locally until it is back)
 * rather than that this one command or value was refused (fail this request, or treat the
 * value as absent). ioredis raises ReplyError for what the server answered; everything else it
 * raises is about the connection: refused, reset, closed, timed out, not writable.
 */
export function startsOutage(error: unknown): boolean {
  const code = replyCode(error);
  if (refusedByAcl(error)) return true;
  if (code !== undefined) return SERVER_CANNOT_SERVE.has(code);
  if (error instanceof StoreConflictError) return false;
  // A refusal of the request itself (a 4xx, such as parameters a reload made too long, thrown
  // while the session is made inside a store call) says nothing about Redis.
  if (error instanceof StickyportError && error.status < 500) return false;
  // A bug of ours is not Redis being away: hiding it behind an outage would hide it for good.
  return !(error instanceof TypeError || error instanceof RangeError || error instanceof ReferenceError);
}
