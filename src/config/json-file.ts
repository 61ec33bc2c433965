import { isUtf8 } from 'node:buffer';
import { ConfigError } from '../errors.js';
import { findJsonSyntaxError, type JsonSyntaxError } from './json-syntax.js';
import { FileTooLarge, NotARegularFile, readRegularFileSync } from './regular-file.js';
import { MASK } from './secrets.js';
import { inert } from '../logging/quoted.js';

/**
 * Reads one settings file. Every message names the file; none quotes its content, except the
 * line a syntax error is on, with every value on it masked: a file that does not parse is
 * often one whose password was pasted with the wrong quotes.
 */
export function readSettingsFile(file: string): Record<string, unknown> {
  let text = readText(file);
  // Editors on Windows may start a UTF-8 file with a byte-order mark, which JSON.parse refuses.
  text = text.replace(/^\uFEFF/, '');
  let settings: unknown;
  try {
    settings = JSON.parse(text);
  } catch {
    // Not V8's message: it quotes a snippet of the text around the error.
    throw new ConfigError(describeSyntaxError(file, text), [file]);
  }
  // JSON.parse keeps the last of two equal keys; a settings file that says a thing twice is refused.
  const repeated = findJsonSyntaxError(text, { duplicates: true });
  if (repeated) throw new ConfigError(describeAt(file, text, repeated, 'is not a usable settings file'), [file]);
  if (typeof settings !== 'object' || settings === null || Array.isArray(settings)) {
    throw new ConfigError(
      `config file ${inert(file)} must hold a JSON object such as { "Listen": { ... } }, not ${kindOf(settings)}`,
      [file],
    );
  }
  return withoutSchemaReference(settings as Record<string, unknown>);
}

/** Far above any real settings file, far below what would strain memory (`/dev/zero` has no end). */
const MAX_SETTINGS_BYTES = 4 * 1024 * 1024;

/**
 * The file's text, from a regular file of at most MAX_SETTINGS_BYTES only (config/regular-file.ts).
 * Read synchronously, at start-up and in a running process's reload: a FIFO would block the
 * event loop (every port, the admin server, the signal handlers).
 */
function readText(file: string): string {
  try {
    return readRegularFileSync(file, MAX_SETTINGS_BYTES, strictUtf8);
  } catch (error) {
    if (error instanceof NotUtf8) {
      throw new ConfigError(`config file ${inert(file)} is not valid UTF-8: line ${error.line}, column ${error.column} (byte ${error.offset}); save it as UTF-8`, [file]);
    }
    if (error instanceof NotARegularFile) {
      throw new ConfigError(`config file ${inert(file)} is ${error.kind}, not a regular file: settings are read from regular files only, since a reload reads them again (a pipe such as <(...) or /dev/stdin could not be): write them to a file`, [file]);
    }
    if (error instanceof FileTooLarge) {
      throw new ConfigError(`config file ${inert(file)} is larger than ${MAX_SETTINGS_BYTES / 1024 / 1024} MiB, the most a settings file may hold`, [file]);
    }
    throw new ConfigError(`cannot read config file ${inert(file)}: ${(error as Error).message}`, [file]);
  }
}

class NotUtf8 extends Error {
  constructor(
    readonly offset: number,
    readonly line: number,
    readonly column: number,
  ) {
    super('not UTF-8');
  }
}

/**
 * The file's bytes as UTF-8 text, refused where they are not UTF-8: decoded leniently, a byte
 * that is not would become U+FFFD, and a login or path would silently differ from the one on disk.
 */
function strictUtf8(bytes: Buffer): string {
  if (isUtf8(bytes)) return bytes.toString('utf8');
  const offset = firstBadUtf8(bytes);
  const before = bytes.subarray(0, offset).toString('utf8');
  const line = before.split('\n').length;
  const column = before.length - before.lastIndexOf('\n');
  throw new NotUtf8(offset, line, column);
}

/**
 * Where a sequence that is not UTF-8 starts (RFC 3629: no overlong forms, no surrogates,
 * nothing past U+10FFFF; a sequence cut short counts from its first byte). One pass: a decoder
 * fed a byte at a time took a second for a 4 MiB file broken at its end.
 */
export function firstBadUtf8(bytes: Buffer): number {
  let i = 0;
  while (i < bytes.length) {
    const lead = bytes[i]!;
    if (lead < 0x80) {
      i++;
      continue;
    }
    const [length, low, high] =
      lead >= 0xc2 && lead <= 0xdf ? [2, 0x80, 0xbf]
      : lead === 0xe0 ? [3, 0xa0, 0xbf]
      : lead === 0xed ? [3, 0x80, 0x9f]
      : lead >= 0xe1 && lead <= 0xef ? [3, 0x80, 0xbf]
      : lead === 0xf0 ? [4, 0x90, 0xbf]
      : lead >= 0xf1 && lead <= 0xf3 ? [4, 0x80, 0xbf]
      : lead === 0xf4 ? [4, 0x80, 0x8f]
      : [0, 0, 0];
    if (length === 0 || i + length > bytes.length) return i;
    // The second byte's range rules out overlong forms, surrogates and what is past U+10FFFF.
    if (bytes[i + 1]! < low || bytes[i + 1]! > high) return i;
    for (let k = 2; k < length; k++) if ((bytes[i + k]! & 0xc0) !== 0x80) return i;
    i += length;
  }
  return bytes.length;
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return `a ${typeof value}`;
}

/** `"$schema"` points editors at config/appsettings.schema.json; it is not a setting. */
function withoutSchemaReference(settings: Record<string, unknown>): Record<string, unknown> {
  if (!Object.hasOwn(settings, '$schema')) return settings;
  const { $schema: _reference, ...rest } = settings;
  return rest;
}

const EXCERPT_CHARS = 100;

function describeSyntaxError(file: string, text: string): string {
  const found = findJsonSyntaxError(text);
  if (!found) return `config file ${inert(file)} is not valid JSON`;
  return describeAt(file, text, found, 'is not valid JSON');
}

/** `config file F <what>: line L, column C: <reason>`, with that line shown, its values masked. */
function describeAt(file: string, text: string, found: JsonSyntaxError, what: string): string {
  const lineStart = text.lastIndexOf('\n', found.offset - 1) + 1;
  const lineEnd = text.indexOf('\n', found.offset) < 0 ? text.length : text.indexOf('\n', found.offset);
  const line = text.slice(0, lineStart).split('\n').length;
  const column = found.offset - lineStart + 1;
  const heading = `config file ${inert(file)} ${what}: line ${line}, column ${column}: ${found.reason}`;
  const source = text.slice(lineStart, lineEnd).replace(/\r$/, '');
  if (source.trim() === '') return heading;
  // A string opening this line is a key only after `{` or `,` (or at the file's start): after a
  // `:` it is a value, a password on its own line included.
  const before = text.slice(0, lineStart).trimEnd();
  const keyAtStart = before === '' || before.endsWith('{') || before.endsWith(',');
  let { masked, caret } = maskLine(source, column - 1, keyAtStart);
  if (masked.length > EXCERPT_CHARS) {
    const from = Math.max(0, Math.min(caret - EXCERPT_CHARS / 2, masked.length - EXCERPT_CHARS));
    masked = `${from > 0 ? '...' : ''}${masked.slice(from, from + EXCERPT_CHARS)}...`;
    caret = caret - from + (from > 0 ? 3 : 0);
  }
  return `${heading}\n    ${line} | ${masked}\n    ${' '.repeat(String(line).length)} | ${' '.repeat(caret)}^`;
}

const PUNCTUATION = '{}[],:';
// What a settings key (or a parameter's name) is made of; anything else in key position is masked.
const KEY_TEXT = /^[A-Za-z0-9_$.-]{1,64}$/;
const WORD_END = /[\s{}[\],:"']/;

/**
 * One line of a settings file with every value masked: keys, punctuation and true/false/null
 * stay, strings become "***", anything else (numbers, bare words, comments) ***. A key is a
 * quoted string or a bare name that follows `{`, `,` or the line start and precedes `:`.
 * `caret` is where `index` of the line ends up in the masked one.
 */
export function maskLine(line: string, index: number, keyAtStart = true): { masked: string; caret: number } {
  let masked = '';
  let caret = -1;
  let keyExpected = keyAtStart;
  let i = 0;
  while (i < line.length) {
    const start = i;
    const char = line[i]!;
    let piece: string;
    if (/\s/.test(char)) {
      i++;
      piece = ' ';
    } else if (PUNCTUATION.includes(char)) {
      i++;
      piece = char;
      keyExpected = char === '{' || char === ',';
    } else if (char === '"' || char === "'") {
      let end = i + 1;
      while (end < line.length && line[end] !== char) end += line[end] === '\\' ? 2 : 1;
      const closed = end < line.length;
      i = closed ? end + 1 : line.length;
      // Shown only when it looks like a settings key: a URL or a password typed with a stray
      // `:` after it is in key position too, and must stay masked.
      const isKey = keyExpected && closed && KEY_TEXT.test(line.slice(start + 1, end)) && nextNonSpace(line, i) === ':';
      piece = isKey ? line.slice(start, i) : `${char}${MASK}${closed ? char : ''}`;
      keyExpected = false;
    } else {
      while (i < line.length && !WORD_END.test(line[i]!)) i++;
      const word = line.slice(start, i);
      const isKey = keyExpected && /^[A-Za-z_$][\w$]*$/.test(word) && nextNonSpace(line, i) === ':';
      piece = isKey || /^(true|false|null)$/.test(word) ? word : MASK;
      keyExpected = false;
    }
    if (caret < 0 && index < i) caret = masked.length + (piece.length === i - start ? index - start : 0);
    masked += piece;
  }
  return { masked, caret: caret < 0 ? masked.length : caret };
}

function nextNonSpace(line: string, from: number): string | undefined {
  return line.slice(from).trimStart()[0];
}
