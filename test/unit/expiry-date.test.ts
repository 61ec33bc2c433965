import { expect, it } from 'vitest';
import { expiryDate, sessionHeaders, sessionJson } from '../../src/api/session-api.js';
import type { Mapping } from '../../src/ports/mapping.js';
import type { Session } from '../../src/session/session.js';

// The session API announced an expiry rounded down to its second (RFC 1123 has no fractions):
// a client that moved on at the announced time still got the old session for up to a second.

const base = Date.UTC(2026, 10, 27, 12, 0, 0);

it('an announced expiry is never before the real one, and less than a second after it', () => {
  for (let ms = 0; ms <= 2_000; ms += 7) {
    const real = base + ms;
    const announced = Date.parse(expiryDate(real));
    expect(announced).toBeGreaterThanOrEqual(real);
    expect(announced - real).toBeLessThan(1_000);
  }
  expect(expiryDate(base)).toBe('Fri, 27 Nov 2026 12:00:00 GMT');
  expect(expiryDate(base + 1)).toBe('Fri, 27 Nov 2026 12:00:01 GMT');
});

it('the JSON answer and the X-Expires-At header both announce it so', () => {
  const session = { id: 'abcdEFGH', port: 10201, createdAt: base - 60_000, expiresAt: base + 250 } as unknown as Session;
  const mapping = { config: { lifetimeMs: 600_000 }, declared: new Set() } as unknown as Mapping;
  expect(sessionJson(session, base).expires_at).toBe('Fri, 27 Nov 2026 12:00:01 GMT');
  expect(sessionHeaders(session, mapping)['x-expires-at']).toBe('Fri, 27 Nov 2026 12:00:01 GMT');
});
