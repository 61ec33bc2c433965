/**
 * Finds where and why a text is not JSON (RFC 8259).
 *
 * JSON.parse knows, but V8 says it in a message that quotes a snippet of the text (a password
 * in quotes of the wrong kind, for instance) and gives no position for some errors. This scanner
 * is only run on text JSON.parse refused, to get an offset and a reason of our own.
 */
export interface JsonSyntaxError {
  /** UTF-16 offset of the first character that cannot be JSON there. */
  readonly offset: number;
  readonly reason: string;
}

class Found extends Error {
  constructor(readonly offset: number, readonly reason: string) {
    super(reason);
  }
}

class TooDeep extends Error {}

const MAX_DEPTH = 512;

/**
 * With `duplicates`, a key given twice in one object is an error too: JSON.parse keeps the last
 * one, so the first (a whole second "Authentication" section, say) would be ignored unsaid.
 */
export function findJsonSyntaxError(text: string, { duplicates = false } = {}): JsonSyntaxError | undefined {
  let i = 0;
  const fail = (reason: string, at = i): never => {
    throw new Found(at, at >= text.length ? `${reason}, but the file ends` : reason);
  };
  const skipSpace = (): void => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++;
  };
  const expect = (char: string, reason: string): void => {
    skipSpace();
    if (text[i] !== char) fail(reason);
    i++;
  };

  const string = (): void => {
    const start = i++;
    for (;;) {
      if (i >= text.length) fail('this string is never closed', start);
      const char = text[i]!;
      if (char === '"') break;
      if (char === '\n' || char === '\r') fail('this string is not closed on its line', start);
      if (char < ' ') fail('a control character in a string (write it as \\u00XX)');
      if (char === '\\') {
        const escape = text[++i];
        if (escape === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 1, i + 5))) fail('a \\u escape needs 4 hex digits');
          i += 4;
        } else if (escape === undefined || !'"\\/bfnrt'.includes(escape)) fail('an unknown escape in a string', i - 1);
      }
      i++;
    }
    i++;
  };

  const number = (): void => {
    const match = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i, i + 400));
    if (!match) fail('a number that is not JSON (no leading +, 0 or ., digits after - and .)');
    i += match![0].length;
    if (/^[\w.]/.test(text[i] ?? '')) fail('a number that is not JSON (no leading zeros, hex or trailing text)');
  };

  const value = (depth: number): void => {
    if (depth > MAX_DEPTH) {
      // Text JSON.parse took: deeper than any settings file, and the settings check says what is wrong with it.
      if (duplicates) throw new TooDeep();
      fail(`nested more than ${MAX_DEPTH} levels deep`);
    }
    skipSpace();
    const char = text[i];
    if (char === undefined) fail('a value is expected');
    else if (char === '{') {
      const keys = duplicates ? new Set<string>() : undefined;
      members('}', () => {
        skipSpace();
        if (text[i] !== '"') fail(text[i] === "'" ? 'a key must be in double quotes, not single quotes' : 'a key in double quotes is expected');
        const start = i;
        string();
        if (keys) {
          const key = JSON.parse(text.slice(start, i)) as string;
          if (keys.has(key)) fail(`${JSON.stringify(key)} is given twice in this object: only the last would count`, start);
          keys.add(key);
        }
        expect(':', 'a ":" is expected after the key');
        value(depth + 1);
      });
    }
    else if (char === '[') members(']', () => value(depth + 1));
    else if (char === '"') string();
    else if (char === '-' || (char >= '0' && char <= '9')) number();
    else if (/^(true|false|null)\b/.test(text.slice(i, i + 6))) i += text[i] === 'f' ? 5 : 4;
    else if (char === "'") fail('strings must be in double quotes, not single quotes');
    else fail('a value is expected: a "string" in double quotes, a number, true, false, null, { or [');
  };

  const members = (close: string, member: () => void): void => {
    i++;
    skipSpace();
    if (text[i] === close) {
      i++;
      return;
    }
    for (;;) {
      member();
      skipSpace();
      if (text[i] === close) break;
      const comma = i;
      expect(',', `a "," or "${close}" is expected`);
      skipSpace();
      if (text[i] === close) fail(`a comma before "${close}": JSON allows no trailing comma`, comma);
    }
    i++;
  };

  try {
    value(0);
    skipSpace();
    if (i < text.length) fail('more text after the end of the JSON value');
    return undefined;
  } catch (error) {
    if (error instanceof Found) return { offset: error.offset, reason: error.reason };
    if (error instanceof TooDeep) return undefined;
    throw error;
  }
}
