import { describe, expect, it } from 'vitest';
import { compileHostPattern, hostForRules, hostPatternProblem } from '../../src/rules/host-pattern.js';

const matches = (pattern: string, host: string): boolean => {
  const test = compileHostPattern(pattern);
  if (typeof test === 'string') throw new Error(test);
  return test(hostForRules(host));
};

describe('host patterns', () => {
  it.each([
    ['*.example.com', 'a.example.com', true],
    ['*.example.com', 'a.b.example.com', true],
    ['*.example.com', 'example.com', false],
    ['*.example.com', 'badexample.com', false],
    ['*.example.com', 'A.EXAMPLE.COM', true],
    ['*.example.com', 'a.example.com.', true],
    ['example.com', 'example.com', true],
    ['example.com', 'www.example.com', false],
    ['cdn*.example.com', 'cdn.example.com', true],
    ['cdn*.example.com', 'cdn7.example.com', true],
    ['cdn*.example.com', 'img.example.com', false],
    ['*', 'anything.test', true],
    ['10.0.0.*', '10.0.0.7', true],
    ['::1', '[::1]', true],
    ['/(www\\.)?example\\.(com|org)/', 'www.example.org', true],
    ['/(www\\.)?example\\.(com|org)/', 'example.com', true],
    ['/(www\\.)?example\\.(com|org)/', 'www.example.com.evil.test', false],
    ['/.*tracker.*/', 'ads.tracker.net', true],
    ['/EXAMPLE\\.COM/', 'example.com', true],
  ])('%s against %s: %s', (pattern, host, expected) => {
    expect(matches(pattern, host)).toBe(expected);
  });

  // ProxyMapService matched its patterns anywhere in the name: the form the refusal suggests,
  // between slashes, must match the same names (here the whole name).
  it.each([
    ['mozilla\\.(com|org)$', ['mozilla.com', 'www.mozilla.org', 'notmozilla.com'], ['mozilla.com.evil.test', 'mozilla.net']],
    ['^s\\.yimg\\.com$', ['s.yimg.com'], ['as.yimg.com', 's.yimg.com.evil.test']],
    ['^ads\\.', ['ads.example.com'], ['bads.example.com']],
    ['tracker\\d+', ['tracker1.net', 'a.tracker22.b'], ['tracker.net']],
    ['^ads\\.|\\.doubleclick\\.net$', ['ads.x.com', 'g.doubleclick.net'], ['x.ads.com', 'doubleclick.net.evil.test']],
  ])('the slashed form suggested for %j matches what it matched anywhere in a name', (pattern, matching, other) => {
    const suggested = /(\/.*\/) matches the names/.exec(hostPatternProblem(pattern) ?? '')?.[1];
    expect(suggested).toBeDefined();
    const anywhere = new RegExp(pattern, 'i');
    for (const host of [...matching, ...other]) {
      expect(anywhere.test(host), `${pattern} anywhere in ${host}`).toBe(matching.includes(host));
      expect(matches(suggested!, host), `${suggested} against ${host}`).toBe(matching.includes(host));
    }
  });

  it.each([
    ['', /must not be empty/],
    ['mozilla\\.(com|org)$', /looks like a regular expression: write it between slashes, where it must match the whole host name: \/\.\*mozilla\\\.\(com\|org\)\/ matches the names it matches anywhere in them/],
    ['exa mple.com', /host name characters/],
    ['/a(/', /not a valid regular expression/],
  ])('refuses %j', (pattern, problem) => {
    expect(hostPatternProblem(pattern)).toMatch(problem);
  });
});
