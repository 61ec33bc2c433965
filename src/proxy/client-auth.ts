import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * Checks client proxy logins in constant time: both sides are hashed first, so neither the
 * length nor the first differing byte of the secret shows in the timing.
 */
export class ClientAuth {
  private readonly expected: Buffer;

  constructor(username: string, password: string) {
    this.expected = digest(username, password);
  }

  matches(username: string, password: string): boolean {
    return timingSafeEqual(digest(username, password), this.expected);
  }

  /** For a raw `Proxy-Authorization` header (the session API path, outside proxy-chain). */
  matchesHeader(header: string | undefined): boolean {
    const login = parseBasic(header);
    return login !== undefined && this.matches(login.username, login.password);
  }
}

export function parseBasic(header: string | undefined): { username: string; password: string } | undefined {
  if (!header) return undefined;
  const match = /^\s*basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!match) return undefined;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

function digest(username: string, password: string): Buffer {
  // The NUL separator keeps "ab"+"c" apart from "a"+"bc".
  return createHash('sha256').update(username).update('\0').update(password).digest();
}
