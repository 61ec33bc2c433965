import { describe, expect, it } from 'vitest';
import { httpTarget, plainTarget } from '../../src/proxy/http-target.js';

// Pieces an absolute URI is built from: the shapes WHATWG URL reads specially in an authority
// (user info, upper case, escapes, brackets, backslashes, fragments, numbers in every base,
// punycode, ports with leading zeros or out of range) beside plain names, digits and paths.
const PIECES = ['a', 'z', '0', '1', '9', '-', '.', '..', 'xn--', '0x', 'ff', '127', '255', '256', '01', 'A', '%41', '%2e', '_',
  '@', ':', '::1', '[', ']', '\\', '#', '?', '/', '//', 'user:pw@', ':80', ':080', ':0', ':443', ':65535', ':65536', ':99999', ':8a',
  'example', 'com', 'localhost', 'é', '/path', '?q=1'];
const SCHEMES = ['http://', 'http://', 'http://', 'HTTP://', 'https://', 'http:/', 'ftp://', ''];

/** A deterministic stream of request targets: pairs of pieces after `http://`, then random joins. */
function* targets(): Generator<string> {
  for (const a of PIECES) for (const b of PIECES) yield `http://${a}${b}`;
  let seed = 11;
  const next = (): number => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31);
  for (let i = 0; i < 30_000; i++) {
    let url = SCHEMES[next() % SCHEMES.length]!;
    for (let n = 1 + (next() % 7); n > 0; n--) url += PIECES[next() % PIECES.length];
    yield url;
  }
  for (const length of [252, 253, 254]) yield `http://${'a'.repeat(length)}:8080/`;
}

function parsed(url: string): URL | undefined {
  try {
    return new URL(url);
  } catch {
    return undefined;
  }
}

describe('plainTarget', () => {
  it('gives the hostname and port WHATWG URL gives, for every target of the class it answers', () => {
    let taken = 0;
    let left = 0;
    for (const url of targets()) {
      const plain = plainTarget(url);
      if (plain === undefined) {
        left++;
        continue;
      }
      taken++;
      const reference = parsed(url);
      expect(reference, url).toBeDefined();
      expect(reference!.protocol, url).toBe('http:');
      expect({ hostname: plain.hostname, port: plain.port }, url).toEqual({ hostname: reference!.hostname, port: reference!.port });
      // What goes out is the same whichever parse it came from (or the same 400).
      let fromPlain: unknown;
      let fromUrl: unknown;
      try {
        fromPlain = httpTarget(url, plain);
      } catch (error) {
        fromPlain = (error as Error).message;
      }
      try {
        fromUrl = httpTarget(url, reference!);
      } catch (error) {
        fromUrl = (error as Error).message;
      }
      expect(fromPlain, url).toEqual(fromUrl);
    }
    // Both kinds in numbers: a shortcut taking too much or too little would meet each.
    expect(taken).toBeGreaterThan(2_000);
    expect(left).toBeGreaterThan(10_000);
  });

  it.each([
    ['http://127.0.0.1:8080/x', { hostname: '127.0.0.1', port: '8080' }],
    ['http://example.com/', { hostname: 'example.com', port: '' }],
    ['http://example.com:80?q', { hostname: 'example.com', port: '' }],
    ['http://example.com.', { hostname: 'example.com.', port: '' }],
    ['http://Example.com/', undefined],
    ['http://example.com:080/', undefined],
    ['http://user@example.com/', undefined],
    ['http://evil.test\\@good.test/', undefined],
    ['http://127.1/', undefined],
    ['http://[::1]:80/', undefined],
    ['https://example.com/', undefined],
  ])('%s is %j', (url, expected) => {
    expect(plainTarget(url)).toEqual(expected);
  });
});
