import { randomBytes } from 'node:crypto';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import type { RotationRuleConfig } from '../../src/config/rotation.js';
import { BodyScan } from '../../src/rotation/body-scan.js';

// BodyScan (src/rotation/body-scan.ts) against hostile bodies: markers at every edge, split
// over every chunking, compressed bodies that come faster than the decoder, bombs, truncated
// and corrupt streams. Each scan must report exactly one outcome, found iff the marker lies in
// the first `limit` decoded bytes, and never throw.

const rule = (marker: string): RotationRuleConfig => ({
  source: 'Rotation.Rules[0]', name: 'r', status: undefined, header: undefined, connect: undefined,
  bodyContains: Buffer.from(marker), consecutive: 1, action: 'rotate', cooldownMs: 0,
});
const MARKER = 'captcha-wall';

/** Runs a scan over `chunks` fed back to back; resolves with its one outcome. */
function scan(coding: 'identity' | 'gzip' | 'deflate' | 'br', limit: number, chunks: Buffer[], end = true): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const seen: string[] = [];
    let expired = false;
    const timer = setTimeout(() => {
      expired = true;
      reject(new Error(`no outcome within 5 s: ${seen.join()}`));
    }, 5_000);
    const report = (what: string) => {
      seen.push(what);
      clearTimeout(timer);
      // Let any second (wrong) report show up before resolving.
      setImmediate(() => setImmediate(() => resolve(seen)));
    };
    const s = new BodyScan([rule(MARKER)], limit, coding, { found: () => (report('found'), undefined), clean: () => report('clean') }, 's', MARKER.length - 1);
    for (const chunk of chunks) s.feed(chunk, false);
    if (end) s.end();
    else s.abandon();
    // A decoder that fails gives the scan up without a report: resolve once it is over.
    const over = () => {
      if (seen.length > 0 || expired) return;
      if (s.done) {
        clearTimeout(timer);
        resolve(seen);
      } else setImmediate(over);
    };
    setImmediate(over);
  });
}

function chunked(body: Buffer, sizes: number[]): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0, i = 0; at < body.length; i++) {
    const n = Math.max(1, sizes[i % sizes.length]!);
    out.push(body.subarray(at, at + n));
    at += n;
  }
  return out;
}

const COMPRESS = { gzip: gzipSync, deflate: deflateSync, br: brotliCompressSync } as const;

describe('BodyScan, plain bodies', () => {
  const limit = 1024;
  it.each([0, 1, limit - MARKER.length - 1, limit - MARKER.length, limit - MARKER.length + 1, limit - 1, limit])(
    'marker at offset %i, every chunking: found iff it ends within the window',
    async (offset) => {
      const body = Buffer.concat([Buffer.alloc(offset, 'x'), Buffer.from(MARKER), Buffer.alloc(200, 'y')]);
      const want = offset + MARKER.length <= limit ? 'found' : 'clean';
      for (const sizes of [[body.length], [1], [2, 3], [7], [limit - 1, 1], [offset || 1, 1, 1]]) {
        expect(await scan('identity', limit, chunked(body, sizes))).toEqual([want]);
      }
    },
  );
});

describe.each(['gzip', 'deflate', 'br'] as const)('BodyScan, %s bodies', (coding) => {
  const limit = 4096;
  const compress = COMPRESS[coding];

  it('marker early, then far more incompressible bytes than 4 windows, all fed in one go: found', async () => {
    const body = compress(Buffer.concat([Buffer.from('<html>'), Buffer.from(MARKER), randomBytes(limit * 8)]));
    expect(await scan(coding, limit, chunked(body, [1500]))).toEqual(['found']);
  });

  it('marker at the window edge, split over 1-byte compressed chunks: found; one byte past: clean', async () => {
    const inside = compress(Buffer.concat([Buffer.alloc(limit - MARKER.length, 'a'), Buffer.from(MARKER), Buffer.alloc(100, 'b')]));
    expect(await scan(coding, limit, chunked(inside, [1]))).toEqual(['found']);
    const outside = compress(Buffer.concat([Buffer.alloc(limit - MARKER.length + 1, 'a'), Buffer.from(MARKER), Buffer.alloc(100, 'b')]));
    expect(await scan(coding, limit, chunked(outside, [1]))).toEqual(['clean']);
  });

  it('a bomb (64 MiB of zeros) ends in one clean report without decoding it all', async () => {
    const body = compress(Buffer.alloc(64 * 1024 * 1024));
    const before = process.memoryUsage().rss;
    expect(await scan(coding, limit, chunked(body, [16 * 1024]))).toEqual(['clean']);
    expect(process.memoryUsage().rss - before).toBeLessThan(48 * 1024 * 1024);
  });

  it('truncated, corrupt, garbage and empty bodies: one outcome at most, nothing thrown', async () => {
    const good = compress(Buffer.concat([Buffer.alloc(500, 'a'), Buffer.from(MARKER)]));
    const corrupt = Buffer.from(good);
    for (let i = 10; i < corrupt.length; i += 7) corrupt[i] ^= 0x5a;
    const cases = [good.subarray(0, good.length >> 1), corrupt, randomBytes(3000), Buffer.alloc(0), Buffer.from('<html>not compressed captcha-wall</html>')];
    for (const body of cases) {
      const seen = await scan(coding, limit, chunked(body, [13]));
      expect(seen.length).toBeLessThanOrEqual(1);
    }
    // Abandoned half way (the answer failed): nothing reported, nothing thrown later.
    expect(await scan(coding, limit, chunked(good, [5]), false)).toEqual([]);
  });
});
