import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { expect, it } from 'vitest';
import type { RotationRuleConfig } from '../../src/config/rotation.js';
import { BodyScan, MAX_SCAN_DECODERS, scanDecodersAlive } from '../../src/rotation/body-scan.js';
import { eventually } from '../helpers/eventually.js';

// An adversarial pass found the scan of compressed bodies unbounded in two ways:
// - a gzip body sent in 1-byte chunks (its header's comment never ending, so nothing decodes
//   and the window never fills) was written to the decoder one byte at a time: a thread-pool
//   round trip per byte, a 393 KB answer cost a second of CPU after it was relayed, ten clients
//   took the process to 1.6 GB;
// - a 51-byte brotli bomb answered as fast as clients asked kept hundreds of decoders (windows of
//   up to 16 MB each) alive: gigabytes.
// Input is now handed over in pieces of 16 KiB, and at most MAX_SCAN_DECODERS decoders live at once.

const rule: RotationRuleConfig = {
  source: 'Rotation.Rules[0]', name: 'r', status: undefined, header: undefined, connect: undefined,
  bodyContains: Buffer.from('captcha'), consecutive: 1, action: 'rotate', cooldownMs: 0,
};
const outcome = () => {
  const seen: string[] = [];
  return { seen, found: () => (seen.push('found'), undefined), clean: () => void seen.push('clean') };
};

/** A gzip header with a comment (FCOMMENT) that the body never ends: nothing ever decodes. */
const ENDLESS_COMMENT = Buffer.from([0x1f, 0x8b, 0x08, 0x10, 0, 0, 0, 0, 0, 0xff]);

it('a compressed body in 1-byte chunks reaches its decoder in a few pieces, not a write per byte', async () => {
  const found = outcome();
  const scan = new BodyScan([rule], 16 * 1024, 'gzip', found, 's1', 6);
  const decoder = (scan as unknown as { decoder: { write(chunk: Buffer): boolean } }).decoder;
  let writes = 0;
  const write = decoder.write.bind(decoder);
  decoder.write = (chunk: Buffer) => {
    writes++;
    return write(chunk);
  };
  scan.feed(ENDLESS_COMMENT, false);
  // Four windows of input, the most the scan takes, one byte at a time.
  for (let i = 0; i < 64 * 1024; i++) scan.feed(Buffer.from('a'), false);
  expect(writes).toBeLessThanOrEqual(5);
  scan.end();
  await eventually(() => found.seen.length > 0, 'the scan gave its verdict');
  expect(found.seen).toEqual(['clean']);
});

it('a marker in a gzip body sent in 1-byte chunks is still found', async () => {
  const found = outcome();
  const scan = new BodyScan([rule], 16 * 1024, 'gzip', found, 's1', 6);
  const body = gzipSync(Buffer.from(`${'<p>x</p>'.repeat(50)}captcha`));
  for (const byte of body) scan.feed(Buffer.from([byte]), false);
  scan.end();
  await eventually(() => found.seen.length > 0, 'the scan gave its verdict');
  expect(found.seen).toEqual(['found']);
});

it(`at most ${MAX_SCAN_DECODERS} decoders live at once; past that a compressed body is not scanned, and every decoder is released`, async () => {
  await eventually(() => scanDecodersAlive() === 0, 'no decoder alive before');
  const bomb = brotliCompressSync(Buffer.alloc(64 * 1024 * 1024, 'a'), { params: { [constants.BROTLI_PARAM_LGWIN]: 24, [constants.BROTLI_PARAM_QUALITY]: 5 } });
  const scans = Array.from({ length: MAX_SCAN_DECODERS + 4 }, () => {
    const found = outcome();
    return { found, scan: new BodyScan([rule], 16 * 1024, 'br', found, 's1', 6) };
  });
  expect(scanDecodersAlive()).toBe(MAX_SCAN_DECODERS);
  // The ones past the limit are over at once: no marker, as a body that does not decode.
  for (const { found, scan } of scans.slice(MAX_SCAN_DECODERS)) {
    expect(scan.done).toBe(true);
    expect(found.seen).toEqual(['clean']);
  }
  for (const { scan } of scans) {
    scan.feed(bomb, false);
    scan.end();
  }
  await eventually(() => scans.every(({ found }) => found.seen.length > 0), 'every scan gave its verdict');
  await eventually(() => scanDecodersAlive() === 0, 'every decoder released');
  // And a new scan gets a decoder again.
  const again = new BodyScan([rule], 16 * 1024, 'br', outcome(), 's1', 6);
  expect(again.done).toBe(false);
  again.abandon();
  await eventually(() => scanDecodersAlive() === 0, 'the abandoned decoder released');
});
