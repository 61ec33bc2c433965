import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logging/logger.js';
import type { UpstreamMember } from '../../src/upstream/upstream-member.js';
import { UpstreamPool } from '../../src/upstream/upstream-pool.js';

const member = (key: string): UpstreamMember => ({
  key,
  protocol: 'http:',
  description: key,
  hasSessionPlaceholder: true,
  render: () => ({ protocol: 'http:', hostname: key, port: 1, username: '', password: '' }),
});

function pool(now: { t: number }) {
  return new UpstreamPool([member('a:1'), member('b:1'), member('c:1')], { refusals: 3, withinMs: 30_000, forMs: 60_000 }, createLogger('silent'), () => now.t);
}

describe('UpstreamPool', () => {
  it('picks the member with the fewest live sessions, ties in list order', () => {
    const clock = { t: 1_000 };
    const members = pool(clock);
    const picks = Array.from({ length: 7 }, (_, port) => {
      const entry = members.choose(port);
      members.pin(port, entry);
      return entry.key;
    });
    expect(picks).toEqual(['a:1', 'b:1', 'c:1', 'a:1', 'b:1', 'c:1', 'a:1']);
    members.release(1);
    members.release(4);
    expect(members.choose(100).key).toBe('b:1');
    // A port re-pinned counts once, for its new member.
    members.pin(0, members.entries[2]!);
    expect(members.entries.map((entry) => entry.sessions)).toEqual([2, 0, 3]);
  });

  // A rotation counted the session it replaces: on a pool spread 2/2, the port moved to the
  // other member and left it 3/1.
  it('does not count the session of the port it chooses for (the one being replaced)', () => {
    const members = pool({ t: 1_000 });
    for (const port of [0, 1, 2, 3, 4, 5]) members.pin(port, members.entries[port % 3]!);
    // Two sessions each; a:1 holds ports 0 and 3: without its own, port 3 sees a:1 with one, the fewest.
    expect(members.choose(3).key).toBe('a:1');
    expect(members.choose(4).key).toBe('b:1');
    expect(members.choose(100).key).toBe('a:1');
  });

  it('skips a member after 3 refusals within the window, for the cooldown', () => {
    const clock = { t: 1_000 };
    const members = pool(clock);
    const [a] = members.entries;
    expect(members.refused(a!)).toBe(false);
    clock.t += 31_000; // the first refusal leaves the window
    expect(members.refused(a!)).toBe(false);
    expect(members.refused(a!)).toBe(false);
    expect(members.refused(a!)).toBe(true);
    expect(members.isCooling(a!)).toBe(true);
    expect(members.choose(100).key).toBe('b:1');
    expect(members.hasAlternative(a!)).toBe(true);
    clock.t += 60_001;
    expect(members.isCooling(a!)).toBe(false);
    expect(members.choose(100).key).toBe('a:1');
  });

  it('counts the sessions a store held at start-up until they expire', () => {
    const clock = { t: 1_000 };
    const members = pool(clock);
    members.preload([
      { id: 'x', port: 1, createdAt: 0, expiresAt: 5_000, upstream: 'a:1' },
      { id: 'y', port: 2, createdAt: 0, expiresAt: null, upstream: 'b:1' },
    ]);
    expect(members.choose(100).key).toBe('c:1');
    clock.t = 6_000;
    expect(members.choose(100).key).toBe('a:1');
    expect(members.entries.map((entry) => entry.sessions)).toEqual([0, 1, 0]);
  });
});
