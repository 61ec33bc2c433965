import { describe, expect, it } from 'vitest';
import { canonicalHost, canonicalHostByUrl } from '../../src/proxy/target-host.js';

// Pieces a host is built from: the shapes WHATWG URL treats specially (numbers in every base,
// punycode, upper case, escapes, empty labels, brackets) beside plain letters and digits.
const PIECES = ['a', 'z', 'q', '0', '1', '9', '-', '.', '..', 'xn--', 'xN--', '0x', '0X', 'ff', 'g', '127', '255', '256', '01', '08',
  'A', 'Z', '%41', '%2e', '_', '[', ']', ':', '::1', '::ffff:', 'ß', 'é', '\u0000', ' ', 'localhost', 'example', 'com'];

/** A deterministic stream of hosts: every piece alone and in pairs, then random joins of up to 9. */
function* hosts(): Generator<string> {
  for (const a of PIECES) {
    yield a;
    for (const b of PIECES) yield a + b;
  }
  let seed = 7;
  const next = (): number => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31);
  for (let i = 0; i < 20_000; i++) {
    let host = '';
    for (let n = 1 + (next() % 9); n > 0; n--) host += PIECES[next() % PIECES.length];
    yield host;
  }
  for (const length of [62, 63, 64, 252, 253, 254, 255, 256]) {
    yield 'a'.repeat(length);
    yield `${'a'.repeat(length - 1)}.`;
    yield `${'ab.'.repeat(Math.ceil(length / 3)).slice(0, length)}`;
  }
}

describe('canonicalHost', () => {
  it('gives the same host as WHATWG URL for every host of the class, plain names answered without it', () => {
    let unchanged = 0;
    let refused = 0;
    let changed = 0;
    for (const host of hosts()) {
      const expected = canonicalHostByUrl(host);
      expect(canonicalHost(host), JSON.stringify(host)).toBe(expected);
      if (expected === undefined) refused++;
      else if (expected === host) unchanged++;
      else changed++;
    }
    // The class holds all three kinds, in numbers: a wrong shortcut would meet each.
    expect(unchanged).toBeGreaterThan(1_000);
    expect(changed).toBeGreaterThan(1_000);
    expect(refused).toBeGreaterThan(1_000);
  });

  it.each([
    ['127.0.0.1', '127.0.0.1'],
    ['127.1', '127.0.0.1'],
    ['0x7f.0.0.1', '127.0.0.1'],
    ['2130706433', '127.0.0.1'],
    ['example.0x10', undefined],
    ['a.b.0x', undefined],
    ['example.com.', 'example.com.'],
    ['Example.COM', 'example.com'],
    ['xn--nxasmq6b', 'xn--nxasmq6b'],
    ['xn--a', undefined],
    ['-a-.b-', '-a-.b-'],
  ])('%j is %j', (host, expected) => {
    expect(canonicalHost(host)).toBe(expected);
  });
});
