import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { eventually } from '../helpers/eventually.js';
import type { RotationRuleConfig } from '../../src/config/rotation.js';
import { parseEchoAnswer } from '../../src/identity/echo-answer.js';
import { IdentityEvents } from '../../src/identity/identity-events.js';
import { BodyScan, scanCoding } from '../../src/rotation/body-scan.js';
import { connectOutcomes, headerValueTest, statusListProblem, statusTable } from '../../src/rotation/rule-values.js';

describe('parseEchoAnswer', () => {
  it.each([
    ['203.0.113.7\n', { ip: '203.0.113.7' }],
    ['  2001:db8::1  ', { ip: '2001:db8::1' }],
    ['[2001:db8::1]', { ip: '2001:db8::1' }],
    ['{"ip":"203.0.113.7"}', { ip: '203.0.113.7' }],
    ['{"ip":"203.0.113.7","country":"Germany","country_iso":"DE"}', { ip: '203.0.113.7', country: 'DE' }],
    ['{"ip":"203.0.113.7","country_code":"de"}', { ip: '203.0.113.7', country: 'DE' }],
    ['{"ip":"203.0.113.7","country":"NO","city":"Oslo"}', { ip: '203.0.113.7', country: 'NO' }],
  ])('reads %j', (body, expected) => {
    expect(parseEchoAnswer(body)).toEqual(expected);
  });

  it.each([
    ['', /nothing/],
    ['<html>blocked</html>', /neither an IP address/],
    ['{"query":"203.0.113.7"}', /without an IP address in "ip"/],
    ['{"ip":"localhost"}', /without an IP address/],
    ['{not json', /not JSON/],
    ['x'.repeat(500), /\(500 characters\)/],
    ['fe80::1%eth0', /neither an IP address/],
    ['{"ip":"fe80::1%eth0"}', /without an IP address/],
  ])('refuses %j', (body, says) => {
    const read = parseEchoAnswer(body);
    expect('problem' in read && read.problem).toMatch(says);
  });
});

describe('rule values', () => {
  it('reads statuses, classes and ranges into one table', () => {
    const table = statusTable([429, '5xx', '401-403', ' 418 ']);
    expect([429, 500, 599, 401, 402, 403, 418].every((s) => table[s] === 1)).toBe(true);
    expect([200, 400, 404, 428, 430].some((s) => table[s] === 1)).toBe(false);
    expect(statusListProblem(['5xx', 600])).toMatch(/600 is not a status/);
    expect(statusListProblem('refused')).toMatch(/not a status/);
    expect(statusListProblem(['refused', 403], ['refused', 'timeout', 'reset'])).toBeUndefined();
    const { statuses, failures } = connectOutcomes(['Refused', 'timeout', 502]);
    expect([...failures].sort()).toEqual(['refused', 'timeout']);
    expect(statuses[502]).toBe(1);
  });

  it('matches header values as case-insensitive text, or a regular expression between slashes', () => {
    expect(headerValueTest('Challenge')('managed-challenge')).toBe(true);
    expect(headerValueTest('/^block(ed)?$/')('Blocked')).toBe(true);
    expect(headerValueTest('/^block$/')('blocked')).toBe(false);
    expect(headerValueTest(undefined)('anything')).toBe(true);
  });
});

describe('BodyScan', () => {
  const rule = (marker: string): RotationRuleConfig => ({
    source: 'Rotation.Rules[0]', name: 'r', status: undefined, header: undefined, connect: undefined,
    bodyContains: Buffer.from(marker), consecutive: 1, action: 'rotate', cooldownMs: 0,
  });
  const outcome = () => {
    const seen: string[] = [];
    return { seen, found: () => (seen.push('found'), undefined), clean: (sessionId: string) => void seen.push(`clean ${sessionId}`) };
  };

  it('finds a marker split over two chunks, and reports a clean body once', () => {
    const found = outcome();
    const scan = new BodyScan([rule('captcha')], 1024, 'identity', found, 's1', 6);
    scan.feed(Buffer.from('<p>capt'), false);
    scan.feed(Buffer.from('cha</p>'), false);
    expect(found.seen).toEqual(['found']);
    const clean = outcome();
    const other = new BodyScan([rule('captcha')], 1024, 'identity', clean, 's1', 6);
    other.feed(Buffer.from('<p>hello</p>'), false);
    other.end();
    other.end();
    expect(clean.seen).toEqual(['clean s1']);
  });

  it('stops at the window: a marker beyond it is not looked for', () => {
    const found = outcome();
    const scan = new BodyScan([rule('captcha')], 16, 'identity', found, 's1', 6);
    scan.feed(Buffer.from('x'.repeat(14)), false);
    scan.feed(Buffer.from('captcha'), false);
    expect(found.seen).toEqual(['clean s1']);
    expect(scan.done).toBe(true);
  });

  it.each([
    ['gzip', gzipSync],
    ['deflate', deflateSync],
    ['br', brotliCompressSync],
  ] as const)('decodes %s bodies in a bounded decoder', async (coding, compress) => {
    const found = outcome();
    const scan = new BodyScan([rule('captcha')], 4096, coding, found, 's1', 6);
    const body = compress(Buffer.from(`${'<p>x</p>'.repeat(100)}captcha`));
    scan.feed(body.subarray(0, 10), false);
    scan.feed(body.subarray(10), false);
    scan.end();
    // The decoder answers asynchronously: wait for its verdict, whichever it is, then check it.
    await eventually(() => found.seen.length > 0, 'the scan gave its verdict');
    expect(found.seen).toEqual(['found']);
  });

  it('reads only text-like answers with codings it can undo', () => {
    expect(scanCoding(undefined, undefined)).toBe('identity');
    expect(scanCoding('text/html; charset=utf-8', 'gzip')).toBe('gzip');
    expect(scanCoding('application/json', 'br')).toBe('br');
    expect(scanCoding('application/problem+json', undefined)).toBe('identity');
    expect(scanCoding('image/png', undefined)).toBeUndefined();
    expect(scanCoding('text/html', 'zstd')).toBeUndefined();
  });
});

describe('IdentityEvents', () => {
  it('counts every event, and a listener that throws does not stop the others', () => {
    const events = new IdentityEvents();
    const heard: string[] = [];
    events.on(() => {
      throw new Error('broken subscriber');
    });
    const off = events.on((event) => heard.push(event.type));
    events.emit({ type: 'rule-rotation', port: 1, rule: 'banned', previousId: 'a', trigger: 'status 429', retried: false });
    events.emit({ type: 'rule-rotation', port: 1, rule: 'banned', previousId: 'b', trigger: 'status 429', retried: true });
    events.emit({ type: 'drift', port: 1, sessionId: 'c', from: '192.0.2.1', to: '192.0.2.2', action: 'log' });
    events.emit({ type: 'keep-alive', port: 1, sessionId: 'c', ok: false });
    off();
    events.emit({ type: 'identity-check', port: 1, sessionId: 'c', reason: 'api', ok: true });
    expect(heard).toEqual(['rule-rotation', 'rule-rotation', 'drift', 'keep-alive']);
    expect(events.counts).toMatchObject({ drifts: 1, keepAlivePings: 1, keepAliveFailures: 1, identityChecks: 1 });
    expect([...events.counts.ruleRotations]).toEqual([['banned', 2]]);
  });
});
