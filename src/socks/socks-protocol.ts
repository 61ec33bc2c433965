import net from 'node:net';
import { quoted } from '../logging/quoted.js';

// The SOCKS wire format, server side: what a client sends (RFC 1928 for SOCKS5, RFC 1929 for
// its user name and password login, the SOCKS4 and 4a protocol notes) and the replies. Pure
// functions over the bytes received so far: each parser returns how many bytes its message
// took, NEED_MORE while the message is incomplete, or a Malformed saying which reply to send.

export const NEED_MORE = -1;

/** SOCKS5 authentication methods. */
export const METHOD_NONE = 0x00;
export const METHOD_LOGIN = 0x02;
export const NO_ACCEPTABLE_METHOD = 0xff;

/** SOCKS5 reply codes (RFC 1928, section 6). */
export const REPLY = {
  succeeded: 0x00,
  generalFailure: 0x01,
  notAllowed: 0x02,
  networkUnreachable: 0x03,
  hostUnreachable: 0x04,
  refused: 0x05,
  ttlExpired: 0x06,
  commandNotSupported: 0x07,
  addressTypeNotSupported: 0x08,
} as const;

/** SOCKS4 reply codes: granted, or rejected or failed. */
export const SOCKS4_GRANTED = 0x5a;
export const SOCKS4_REJECTED = 0x5b;

/** The longest SOCKS4 user id or 4a host name accepted (each is NUL-terminated, unbounded on the wire). */
export const SOCKS4_MAX_FIELD = 255;

export interface Target {
  /** A name exactly as the client sent it, or an IPv4/IPv6 address in text form (no brackets). */
  readonly host: string;
  readonly port: number;
  /** True when the client sent a name (SOCKS5 type 3, SOCKS4a): it was not resolved by the client. */
  readonly named: boolean;
}

export interface Socks5Request {
  readonly command: number;
  readonly target: Target;
}

export interface Socks4Request extends Socks5Request {
  readonly userId: string;
}

/** A handshake that cannot go on: the reply to send (if any) before closing, and why. */
export class Malformed {
  constructor(
    readonly reply: Buffer | undefined,
    readonly reason: string,
  ) {}
}

/** VER NMETHODS METHODS...: the offered methods, with the message length. */
export function parseGreeting(bytes: Buffer): { length: number; methods: Buffer } | typeof NEED_MORE {
  if (bytes.length < 2) return NEED_MORE;
  const length = 2 + bytes[1]!;
  if (bytes.length < length) return NEED_MORE;
  return { length, methods: bytes.subarray(2, length) };
}

/** RFC 1929: VER(1) ULEN UNAME PLEN PASSWD. */
export function parseLogin(bytes: Buffer): { length: number; username: string; password: string } | typeof NEED_MORE | Malformed {
  if (bytes.length < 2) return NEED_MORE;
  if (bytes[0] !== 0x01) return new Malformed(LOGIN_FAILED, `login sub-negotiation version ${bytes[0]} (expected 1)`);
  const userEnd = 2 + bytes[1]!;
  if (bytes.length < userEnd + 1) return NEED_MORE;
  const length = userEnd + 1 + bytes[userEnd]!;
  if (bytes.length < length) return NEED_MORE;
  return {
    length,
    username: bytes.toString('utf8', 2, userEnd),
    password: bytes.toString('utf8', userEnd + 1, length),
  };
}

/** VER CMD RSV ATYP DST.ADDR DST.PORT. */
export function parseSocks5Request(bytes: Buffer): { length: number; request: Socks5Request } | typeof NEED_MORE | Malformed {
  if (bytes.length < 5) return NEED_MORE;
  if (bytes[0] !== 0x05) return new Malformed(socks5Reply(REPLY.generalFailure), `request version ${bytes[0]} (expected 5)`);
  const command = bytes[1]!;
  const type = bytes[3]!;
  let host: string;
  let at: number;
  if (type === 0x01) {
    if (bytes.length < 10) return NEED_MORE;
    host = `${bytes[4]}.${bytes[5]}.${bytes[6]}.${bytes[7]}`;
    at = 8;
  } else if (type === 0x03) {
    at = 5 + bytes[4]!;
    if (bytes.length < at + 2) return NEED_MORE;
    host = bytes.toString('latin1', 5, at);
  } else if (type === 0x04) {
    if (bytes.length < 22) return NEED_MORE;
    host = ipv6Text(bytes, 4);
    at = 20;
  } else {
    return new Malformed(socks5Reply(REPLY.addressTypeNotSupported), `address type ${type}`);
  }
  return { length: at + 2, request: { command, target: { host, port: bytes.readUInt16BE(at), named: type === 0x03 } } };
}

/** VN(4) CD DSTPORT DSTIP USERID NUL, and for 4a (DSTIP 0.0.0.x, x != 0) HOST NUL after it. */
export function parseSocks4Request(bytes: Buffer): { length: number; request: Socks4Request } | typeof NEED_MORE | Malformed {
  if (bytes.length < 9) return NEED_MORE;
  const userEnd = bytes.indexOf(0, 8);
  if (userEnd < 0) return tooLong(bytes.length - 8, 'user id');
  if (userEnd - 8 > SOCKS4_MAX_FIELD) return tooLong(userEnd - 8, 'user id');
  const port = bytes.readUInt16BE(2);
  const named = bytes[4] === 0 && bytes[5] === 0 && bytes[6] === 0 && bytes[7] !== 0;
  let host = `${bytes[4]}.${bytes[5]}.${bytes[6]}.${bytes[7]}`;
  let length = userEnd + 1;
  if (named) {
    const hostEnd = bytes.indexOf(0, length);
    if (hostEnd < 0) return tooLong(bytes.length - length, 'host name');
    if (hostEnd - length > SOCKS4_MAX_FIELD) return tooLong(hostEnd - length, 'host name');
    host = bytes.toString('latin1', length, hostEnd);
    length = hostEnd + 1;
  }
  return { length, request: { command: bytes[1]!, userId: bytes.toString('utf8', 8, userEnd), target: { host, port, named } } };
}

function tooLong(received: number, what: string): typeof NEED_MORE | Malformed {
  return received > SOCKS4_MAX_FIELD
    ? new Malformed(socks4Reply(SOCKS4_REJECTED), `SOCKS4 ${what} longer than ${SOCKS4_MAX_FIELD} bytes`)
    : NEED_MORE;
}

// Names go on to the upstream (an HTTP CONNECT line, a SOCKS request) or to the resolver:
// host name characters only, so that no client can smuggle a line break or a path into them.
const HOST_NAME = /^[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,252}[A-Za-z0-9_.])?$/;

/** Why `target` cannot be opened as given, or undefined when it can. */
export function invalidTarget(target: Target): string | undefined {
  if (target.port === 0) return 'target port 0';
  if (!target.named) return undefined;
  if (net.isIP(target.host) !== 0) return undefined;
  return HOST_NAME.test(target.host) ? undefined : `target name ${quoted(target.host.slice(0, 64))} is not a host name`;
}

const ZERO_BOUND = [0x01, 0, 0, 0, 0, 0, 0];

/** A SOCKS5 reply; the bound address is always 0.0.0.0:0 (the upstream's own address is not the client's business). */
export function socks5Reply(code: number): Buffer {
  return Buffer.from([0x05, code, 0x00, ...ZERO_BOUND]);
}

export function socks4Reply(code: number): Buffer {
  return Buffer.from([0x00, code, 0, 0, 0, 0, 0, 0]);
}

export const LOGIN_OK = Buffer.from([0x01, 0x00]);
export const LOGIN_FAILED = Buffer.from([0x01, 0x01]);
export const SOCKS5_SUCCEEDED = socks5Reply(REPLY.succeeded);
export const SOCKS4_SUCCEEDED = socks4Reply(SOCKS4_GRANTED);

/** Sixteen bytes at `at` as a compressed IPv6 address (`::1`, `2001:db8::5`). */
function ipv6Text(bytes: Buffer, at: number): string {
  const groups: string[] = [];
  for (let i = 0; i < 8; i++) groups.push(bytes.readUInt16BE(at + 2 * i).toString(16));
  // The longest run of two or more zero groups becomes "::" (RFC 5952).
  let best = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let end = i;
    while (end < 8 && groups[end] === '0') end++;
    if (end - i > bestLength) {
      best = i;
      bestLength = end - i;
    }
    i = end;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLength).join(':')}`;
}
