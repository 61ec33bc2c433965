import zlib from 'node:zlib';
import type { RotationRuleConfig } from '../config/rotation.js';

/**
 * Where a body scan reports: a marker found (for a rule), or none in the window, for the session
 * the answer came on. With no marker found, a scan that has a `then` rule (a rule after the body
 * rules in the list, which the answer's head already matched) hands the answer to it.
 */
export interface ScanOutcome {
  found(rule: RotationRuleConfig, sessionId: string, retryable: boolean): Promise<unknown> | undefined;
  clean(sessionId: string): void;
  thenRule?(then: ThenRule, sessionId: string, retryable: boolean): Promise<unknown> | undefined;
  /** Whether `then`'s event now would retry the request (its count reached, not cooling down). */
  thenRetries?(then: ThenRule, sessionId: string): boolean;
}

/** The rule an answer goes to when no marker is found, and the event's name for the log. */
export interface ThenRule {
  readonly rule: RotationRuleConfig;
  readonly trigger: string;
}

/** The content codings the scan can undo; another coding is not scanned. */
type Coding = 'identity' | 'gzip' | 'deflate' | 'br';

// Text a captcha or block page can be: HTML, plain text, JSON, XML, scripts. Images, video and
// downloads are not read.
const TEXTUAL = /^\s*(text\/|application\/(?:[\w.+-]*\+)?(?:json|xml|javascript|x-www-form-urlencoded)|application\/xhtml)/i;

/**
 * Whether an answer's body can be scanned, and with which decoder: by its Content-Type (text,
 * HTML, JSON, XML, scripts, or none given) and Content-Encoding (none, gzip, deflate, br).
 */
export function scanCoding(contentType: string | undefined, contentEncoding: string | undefined): Coding | undefined {
  if (contentType !== undefined && !TEXTUAL.test(contentType)) return undefined;
  const coding = (contentEncoding ?? 'identity').trim().toLowerCase();
  if (coding === 'identity' || coding === '') return 'identity';
  if (coding === 'gzip' || coding === 'x-gzip') return 'gzip';
  if (coding === 'deflate' || coding === 'br') return coding;
  return undefined;
}

/**
 * Compressed input is handed to its decoder in pieces of at least this much: each write is a
 * trip to the thread pool and back, and a body sent in 1-byte chunks queued one per byte (a
 * 393 KB answer cost a second of CPU and 55 MB after it was relayed; ten clients, 1.6 GB).
 */
const DECODER_PIECE = 16 * 1024;

/**
 * Decoders alive at once in the process. Each may hold a window of up to 16 MB (brotli): a
 * 51-byte brotli bomb answered as fast as clients ask kept hundreds alive, gigabytes in all.
 * Past the limit a compressed body is not scanned (as one that does not decode).
 */
export const MAX_SCAN_DECODERS = 16;
let decodersAlive = 0;

/** Decoders alive now (a test's check that every one is released). */
export function scanDecodersAlive(): number {
  return decodersAlive;
}

/**
 * Looks for the BodyContains markers of `rules` in the first `limit` bytes of an answer body, as
 * the chunks pass by on their way to the client: the stream is never held. A plain body is read
 * in place; a compressed one is copied into a bounded decoder, whose verdict comes a little
 * later (so a marker found there rotates, but never retries: the answer is already on its way).
 */
export class BodyScan {
  /** Over: a marker was found, the window was read, or the scan was given up. */
  done = false;
  private seen = 0;
  /** The window's last bytes so far (a view: chunks are not reused), for a marker split over two chunks. */
  private last: Buffer | undefined;
  private decoder: zlib.Gunzip | zlib.Inflate | zlib.BrotliDecompress | undefined;
  private fed = 0;
  /** Compressed input not yet handed to the decoder (see DECODER_PIECE). */
  private pending: Buffer[] | undefined;
  private pendingBytes = 0;
  /** Waits for the verdict (see whenDone). */
  private onDone: (() => void) | undefined;

  constructor(
    private readonly rules: readonly RotationRuleConfig[],
    private readonly limit: number,
    coding: Coding,
    private readonly outcome: ScanOutcome,
    private readonly sessionId: string,
    /** The longest marker's length, less one: how much of one chunk a marker may start in. */
    private readonly overlap: number,
    /** The rule that takes the answer when none of `rules` finds its marker (see ScanOutcome). */
    private readonly then?: ThenRule,
  ) {
    if (coding !== 'identity') {
      if (decodersAlive >= MAX_SCAN_DECODERS) {
        // Not scanned, as a body that does not decode (the answer goes on to `then`, if any).
        this.finish(false);
        return;
      }
      decodersAlive++;
      // A body that does not decode holds no marker to find: the answer goes on to `then`, if any.
      this.decoder = makeDecoder(coding, (decoded) => this.search(decoded, false), () => this.finish(false), () => this.finish(false));
      // Counted until its resources are gone: 'close' follows its end and its destroy alike.
      this.decoder.once('close', () => decodersAlive--);
    }
  }

  /**
   * A body chunk on its way to the client; a retry to make instead of relaying, when one is due.
   * `retryable`: nothing of the answer has reached the client, and its request may be sent again.
   * A `then` rule whose event would retry the request now cannot wait for the window: the
   * answer's head leaves with these first bytes. It decides on them: no marker in them, and the
   * answer is its. A compressed body's markers are known only later (its decoder works behind
   * the feed, and decoding here, in the loop, would let any website stall every port): there
   * such a rule decides on the first bytes unread.
   */
  feed(chunk: Buffer, retryable: boolean): Promise<unknown> | undefined {
    if (this.done) return undefined;
    const decideNow = retryable && this.then !== undefined && this.outcome.thenRetries?.(this.then, this.sessionId) === true;
    if (this.decoder && decideNow) return this.finish(true);
    if (this.decoder) {
      // Compressed input beyond four windows is not needed to fill the window. The decoder is
      // ended there rather than dropped: it works behind the feed, so what it was given may
      // still hold the marker (a burst of reads arrives before it has decoded the first).
      const room = this.limit * 4 - this.fed;
      if (room <= 0) return undefined;
      this.fed += chunk.length;
      if (chunk.length >= room) {
        this.decoder.end(this.gathered(chunk.subarray(0, room)));
        return undefined;
      }
      // Body chunks are not reused by undici: holding them until the piece is full is safe.
      (this.pending ??= []).push(chunk);
      this.pendingBytes += chunk.length;
      if (this.pendingBytes >= DECODER_PIECE) this.decoder.write(this.gathered());
      return undefined;
    }
    const found = this.search(chunk, retryable);
    if (this.done || !decideNow) return found;
    return this.finish(true);
  }

  /**
   * The body ended: no marker was in it. `retryable` as for feed(): an answer with no body (or
   * one whose bytes are all still held) may still be retried by a `then` rule.
   */
  end(retryable = false): Promise<unknown> | undefined {
    if (this.done) return undefined;
    if (this.decoder && this.fed > 0) {
      // Already ended when four windows of input came: its 'end' reports.
      if (this.fed < this.limit * 4) this.decoder.end(this.gathered());
      return undefined;
    }
    return this.finish(retryable);
  }

  /**
   * Runs `then` once the scan has its verdict, reported (a marker's rotation begun), or given
   * up: at once when it has. Only a compressed body's scan can still be at work when the body
   * has ended, its decoder behind the relay; the answer's end waits for it, so a client that
   * read the answer whole and asks again goes out on the session the verdict leaves.
   */
  whenDone(then: () => void): void {
    if (this.done) then();
    else this.onDone = then;
  }

  /** The answer failed or was cut off: nothing to report. */
  abandon(): void {
    this.done = true;
    this.pending = undefined;
    this.decoder?.destroy();
    this.decoder = undefined;
  }

  /** The input held back, with `last` after it, as one buffer; the hold is emptied. */
  private gathered(last?: Buffer): Buffer {
    const pieces = this.pending ?? [];
    if (last) pieces.push(last);
    const bytes = this.pendingBytes + (last?.length ?? 0);
    this.pending = undefined;
    this.pendingBytes = 0;
    return pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces, bytes);
  }

  private search(data: Buffer, retryable: boolean): Promise<unknown> | undefined {
    if (this.done) return undefined;
    const room = this.limit - this.seen;
    const window = data.length > room ? data.subarray(0, room) : data;
    this.seen += window.length;
    const last = this.last;
    const text = last && this.overlap > 0 ? Buffer.concat([last.subarray(Math.max(0, last.length - this.overlap)), window]) : window;
    for (const rule of this.rules) {
      if (text.indexOf(rule.bodyContains!) >= 0) {
        this.abandon();
        const verdict = this.outcome.found(rule, this.sessionId, retryable);
        this.settled();
        return verdict;
      }
    }
    if (this.seen >= this.limit) return this.finish(retryable);
    this.last = text;
    return undefined;
  }

  /** No marker in the window: a success, or the `then` rule's event (a retry when it is due and still possible). */
  private finish(retryable: boolean): Promise<unknown> | undefined {
    if (this.done) return undefined;
    this.abandon();
    let verdict: Promise<unknown> | undefined;
    if (this.then && this.outcome.thenRule) verdict = this.outcome.thenRule(this.then, this.sessionId, retryable);
    else this.outcome.clean(this.sessionId);
    this.settled();
    return verdict;
  }

  /** The verdict is reported: whoever waits for it goes on. */
  private settled(): void {
    const then = this.onDone;
    this.onDone = undefined;
    then?.();
  }
}

function makeDecoder(
  coding: Exclude<Coding, 'identity'>,
  onData: (decoded: Buffer) => void,
  onEnd: () => void,
  onError: () => void,
): zlib.Gunzip | zlib.Inflate | zlib.BrotliDecompress {
  // A truncated or corrupt body must not throw: the scan is given up, the answer goes on.
  const decoder =
    coding === 'br'
      ? zlib.createBrotliDecompress({ finishFlush: zlib.constants.BROTLI_OPERATION_FLUSH })
      : coding === 'gzip'
        ? zlib.createGunzip({ finishFlush: zlib.constants.Z_SYNC_FLUSH })
        : zlib.createInflate({ finishFlush: zlib.constants.Z_SYNC_FLUSH });
  decoder.on('data', onData);
  decoder.once('end', onEnd);
  decoder.on('error', onError);
  return decoder;
}
