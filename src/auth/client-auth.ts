import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * A secret compared in constant time: both sides are hashed first, so neither the length nor
 * the first differing byte of the secret shows in the timing. Parts are joined with NUL, which
 * keeps "ab"+"c" apart from "a"+"bc".
 */
export class Secret {
  private readonly digest: Buffer;

  constructor(...parts: string[]) {
    this.digest = digestOf(parts);
  }

  matches(...parts: string[]): boolean {
    return timingSafeEqual(digestOf(parts), this.digest);
  }
}

/** Checks client proxy logins (user name and password) in constant time. */
export class ClientAuth {
  private readonly login: Secret;

  constructor(username: string, password: string) {
    this.login = new Secret(username, password);
  }

  matches(username: string, password: string): boolean {
    return this.login.matches(username, password);
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

function digestOf(parts: string[]): Buffer {
  return createHash('sha256').update(parts.join('\0')).digest();
}
