import { describe, expect, it } from 'vitest';
import { maskLine } from '../../src/config/json-file.js';
import { findJsonSyntaxError } from '../../src/config/json-syntax.js';
import { load, RawText, refusal } from './config-fixtures.js';

// V8's JSON.parse messages quote the text around the error: a password pasted in single quotes
// ended up on the terminal. The loader says where and why in words of its own and shows the
// line with every value masked.

function syntaxMessage(text: string): string {
  const error = refusal({ config: new RawText(text) });
  expect(error.keys[0]).toMatch(/override\.json$/);
  expect(error.message).toMatch(/override\.json is not valid JSON/);
  return error.message;
}

describe('a settings file that is not JSON', () => {
  it('is described by line and column, with the line masked and a caret under the column', () => {
    const message = syntaxMessage('{\n  "Authentication": {\n    "Password": \'hunter2\'\n  }\n}\n');
    expect(message).toBe(
      `config file ${message.split(' ')[2]} is not valid JSON: line 3, column 17: strings must be in double quotes, not single quotes\n` +
        '    3 |     "Password": \'***\'\n' +
        '      |                 ^',
    );
  });

  it.each([
    ['a single-quoted password', '{ "Authentication": { "Password": \'hunter2\' } }', /line 1, column 35: strings must be in double quotes/],
    ['a single-quoted key and password', "{ 'Password': 'hunter2' }", /line 1, column 3: a key must be in double quotes/],
    ['a trailing comma after a secret', '{\n  "SessionAPI": { "Password": "hunter2", }\n}', /line 2, column 40: a comma before "}"/],
    ['a trailing comma on the line of the secret', '{ "Authentication": {\n  "Password": "hunter2",\n} }', /line 2, column 24: a comma before "}"/],
    ['an unterminated string holding a secret, at the end', '{ "Authentication": { "Password": "hunter2', /line 1, column 35: this string is never closed/],
    ['an unterminated string holding a secret, across lines', '{ "Authentication": { "Password": "hunter2\n } }', /line 1, column 35: this string is not closed on its line/],
    ['an unquoted secret', '{ "Authentication": { "Password": hunter2 } }', /line 1, column 35: a value is expected/],
    ['an unquoted secret with a colon', '{ "Upstream": { "Url": http://u:hunter2@h:1 } }', /line 1, column 24: a value is expected/],
    ['a secret followed by a missing comma', '{ "SessionAPI": {\n  "Password": "hunter2" "Domain": "x" } }', /line 2, column 25: a "," or "}" is expected/],
    ['a comment holding a secret', '{\n  // old password: hunter2\n  "Listen": {} }', /line 2, column 3: a key in double quotes is expected/],
    ['a secret in a bad escape', '{ "Authentication": { "Password": "hun\\qter2" } }', /line 1, column 39: an unknown escape/],
    ['a secret in a number-like value', '{ "SessionAPI": { "Password": 0123456 } }', /a number that is not JSON/],
    ['a control character in a secret', '{ "SessionAPI": { "Password": "hunter2\u0001" } }', /control character/],
    // A stray ":" puts a value in key position: a URL in a list, a password on a line of its own.
    ['a URL with a password in a list, a colon for a comma', '{ "Upstream": { "Urls": [\n    "http://a-{session}:hunter2@gate1.example:7777":\n    "x" ] } }', /line 2, column \d+: a "," or "]" is expected/],
    ['a password on its own line after its key, with a stray colon', '{ "SessionAPI": { "Password":\n    "hunter2": "x" } }', /line 2, column \d+: a "," or "}" is expected/],
    ['text after the end', '{ "SessionAPI": { "Password": "x" } } hunter2', /line 1, column 39: more text after the end/],
    ['a missing colon before a secret', '{ "SessionAPI": { "Password" "hunter2" } }', /a ":" is expected after the key/],
    ['a file that ends early', '{ "SessionAPI": {\n  "Password": "hunter2",\n', /line 3, column 1: a key in double quotes is expected, but the file ends/],
    ['an empty file', '', /line 1, column 1: a value is expected, but the file ends/],
  ])('%s: says where, never the secret', (_what, text, where) => {
    const message = syntaxMessage(text);
    expect(message).toMatch(where);
    expect(message).not.toContain('hunter2');
    expect(message).not.toContain('hun');
    expect(message).not.toContain('0123456');
  });

  it('keeps a long minified line short, around the error, still masked', () => {
    const filler = Array.from({ length: 200 }, (_, i) => `"K${i}": "hunter2-${i}"`).join(', ');
    const message = syntaxMessage(`{ ${filler}, "Password": 'hunter2' }`);
    const excerpt = message.split('\n')[1]!;
    expect(excerpt.length).toBeLessThan(130);
    expect(excerpt).toContain(`"Password": '***'`);
    const caretLine = message.split('\n')[2]!;
    expect(excerpt[caretLine.indexOf('^')]).toBe("'");
    expect(message).not.toContain('hunter2');
  });

  // JSON.parse keeps the last of two equal keys: a second "Authentication" section (or a key
  // written twice, however escaped) would silently replace the first.
  it.each([
    ['{\n  "Authentication": { "Required": true },\n  "Authentication": { "Required": false }\n}', 3, 3, 'Authentication'],
    ['{ "Listen": { "Host": "127.0.0.1", "Host": "0.0.0.0" } }', 1, 36, 'Host'],
    ['{ "Mappings": [ { "Name": "a", "N\\u0061me": "b" } ] }', 1, 32, 'Name'],
  ])('refuses a key given twice in one object: %j', (text, line, column, key) => {
    const message = refusal({ config: new RawText(text) }).message;
    expect(message).toContain(`is not a usable settings file: line ${line}, column ${column}: "${key}" is given twice in this object: only the last would count`);
    expect(message).not.toContain('0.0.0.0');
  });

  it('takes the same key in different objects', () => {
    expect(load({ config: new RawText('{ "Listen": { "Host": "127.0.0.1" }, "Admin": { "Host": "127.0.0.1" } }') }).admin.host).toBe('127.0.0.1');
  });

  it('survives nesting far deeper than any settings file', () => {
    expect(syntaxMessage('['.repeat(100_000))).toMatch(/nested more than 512 levels deep/);
    const deepValue = `{ "Listen": { "Host": ${'['.repeat(50_000)}${']'.repeat(50_000)} } }`;
    expect(refusal({ config: new RawText(deepValue) }).message).toContain('Listen.Host = an array');
  });
});

describe('findJsonSyntaxError', () => {
  // A seeded generator, so that a failure can be replayed.
  function random(seed: number): () => number {
    return () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
  }

  it('agrees with JSON.parse on 5000 one-character mutations of a settings file, and the message hides the secret', () => {
    const valid = JSON.stringify(
      {
        Listen: { PortRange: { Start: 10201, End: 10300 }, StickyProxyLifetime: -1.5e3, AllowUnauthenticatedPublic: false },
        Upstream: { Url: 'http://u-{session}:hunter2@gate:7777' },
        SessionAPI: { Password: 'hunter2\\"\u00e9', Domain: null },
        Session: { IdAlphabet: ['abc', true, 0.25, {}] },
      },
      null,
      2,
    );
    const next = random(42);
    const alphabet = '{}[],:"\'\\ \n\t0-.eEaZ/u\u0001';
    let refused = 0;
    for (let round = 0; round < 5000; round++) {
      const at = Math.floor(next() * valid.length);
      const char = alphabet[Math.floor(next() * alphabet.length)]!;
      const kind = Math.floor(next() * 3);
      const text = valid.slice(0, at) + (kind === 2 ? '' : char) + valid.slice(kind === 0 ? at : at + 1);
      let parses = true;
      try {
        JSON.parse(text);
      } catch {
        parses = false;
      }
      const found = findJsonSyntaxError(text);
      expect(found === undefined, `round ${round}: ${JSON.stringify(text)}`).toBe(parses);
      if (found) {
        refused++;
        expect(found.offset).toBeGreaterThanOrEqual(0);
        expect(found.offset).toBeLessThanOrEqual(text.length);
      }
    }
    expect(refused).toBeGreaterThan(1000);
  });
});

describe('maskLine', () => {
  it.each([
    ['  "Password": "hunter2",', '  "Password": "***",'],
    ["  'Password': 'hunter2'", "  'Password': '***'"],
    ['  Password: hunter2:x@host', '  Password: ***:***'],
    ['{ "a": 1, "b": [true, false, null, "x"], "c": -2.5e3 }', '{ "a": ***, "b": [true, false, null, "***"], "c": *** }'],
    ['  "Password": "hunter2', '  "Password": "***'],
    ['  "hunter2"', '  "***"'],
    ['  "Password" "hunter2": 1', '  "***" "***": ***'],
    ['  // old: hunter2', '  *** ***: ***'],
    ['\t"Password":\t"hun\\"ter2"', ' "Password": "***"'],
    ['  "http://u:hunter2@h:1": 1', '  "***": ***'],
    ['  "hunter2 pw": 1', '  "***": ***'],
  ])('masks %j as %j', (line, masked) => {
    expect(maskLine(line, 0).masked).toBe(masked);
  });

  it('after a ":" on the line before, a string opening the line is a value, whatever follows it', () => {
    expect(maskLine('    "hunter2": "x" } }', 0, false).masked).toBe('    "***": "***" } }');
    expect(maskLine('    "Password": "x"', 0, true).masked).toBe('    "Password": "***"');
  });

  it('moves the caret to the start of a masked value, and keeps it inside kept text', () => {
    const line = '  "Password": \'hunter2\' }';
    expect(maskLine(line, line.indexOf('hunter2'))).toEqual({ masked: `  "Password": '***' }`, caret: 14 });
    expect(maskLine(line, line.indexOf('}')).caret).toBe(`  "Password": '***' `.length);
    expect(maskLine(line, 4).caret).toBe(4);
    expect(maskLine(line, line.length).caret).toBe(`  "Password": '***' }`.length);
  });
});

describe('control characters in keys', () => {
  it('an unknown key or a parameter name holding ESC, BEL or CSI is shown with them written out, as a value would be', () => {
    const error = refusal({ config: new RawText('{ "Listen": { "Ho\\u001b[31mst\\u0007": 1 }, "Upstream": { "Url": "http://u-{session}-{c}:p@h:1", "Parameters": { "c\\u009b2J": "us" } } }') });
    // Its lines apart (LF), no control character.
    expect(error.message).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
    expect(error.message).toContain('Ho\\u001b[31mst\\u0007');
  });
});
