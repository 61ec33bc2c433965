import { describe, expect, it } from 'vitest';
import { showValue, withoutQuery } from '../../src/config/secrets.js';
import { refusal } from './config-fixtures.js';

// How a value holding a secret is shown in configuration messages. The password was masked by
// replacing its text everywhere: a password "p" turned "http://u:p@h:1" into "htt***://u:***@h:1"
// (and "{port}" into "{***ort}" in the message), so where the masks fell spelled it out; and a
// Redis URL with no password lost its port and database ("redis://127.0.0.1:***").

describe('a secret in a URL is masked where it stands, and only there', () => {
  it.each([
    ['http://u-{session}:p@h:1', 'url-password', '"http://u-{session}:***@h:1"'],
    ['http://u:ttp@h:1', 'url-password', '"http://u:***@h:1"'],
    ['http://user:pa@ss:word@gate.example:1', 'url-password', '"http://user:***@gate.example:1"'],
    ['redis://:s@127.0.0.1:6379/3', 'url-credentials', '"redis://:***@127.0.0.1:6379/3"'],
    ['redis://secret@127.0.0.1:6379', 'url-credentials', '"redis://***@127.0.0.1:6379"'],
    ['redis://127.0.0.1:6379/3', 'url-credentials', '"redis://127.0.0.1:6379/3"'],
    ['redis://h1:6379/abc', 'url-credentials', '"redis://h1:6379/abc"'],
    ['http://user:secret', 'url-password', '"http://user:***"'],
    ['not a url:secret', 'url-password', '"***"'],
  ] as const)('%s (%s) shows as %s', (value, masking, shown) => {
    expect(showValue(value, masking)).toBe(shown);
  });

  it('an echo URL keeps its scheme and host, with the login and query masked', () => {
    expect(withoutQuery('http://u:p@echo.example/ip?token=T')).toBe('http://u:***@echo.example/ip?***');
    expect(withoutQuery('http://127.0.0.1:8080/ip')).toBe('http://127.0.0.1:8080/ip');
  });

  it('a one-letter password leaves the message readable, and is not spelled out by it', () => {
    const error = refusal({ config: { Upstream: { Url: 'http://u-{session}-c-{Country}:p@h:1' } } });
    const line = error.message.split('\n').find((text) => text.includes('Upstream.Url'))!;
    expect(line).toContain('"http://u-{session}-c-{Country}:***@h:1"');
    expect(line).toContain('{port}');
    expect(line).not.toMatch(/htt\*\*\*|\{\*\*\*ort\}/);
  });
});
