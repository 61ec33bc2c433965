import { describe, expect, it } from 'vitest';
import { TargetGuard } from '../../src/upstream/target-guard.js';

// IPv6 addresses that carry an IPv4 address reach it: through a NAT64 gateway (64:ff9b::/96,
// RFC 6052; 64:ff9b:1::/48 is a network's own, RFC 8215) or as the deprecated IPv4-compatible
// form (::a.b.c.d). A private IPv4 address in them is as private as it is written plainly.
const guard = new TargetGuard();

describe('TargetGuard.check', () => {
  it.each(['64:ff9b::7f00:1', '64:ff9b::10.0.0.1', '64:ff9b::a9fe:a9fe', '::7f00:1', '::10.1.2.3', '64:ff9b:1::1', '64:ff9b:1:abcd::8.8.8.8', '::ffff:0:7f00:1', '::ffff:0:10.0.0.1', '::ffff:127.0.0.1', '127.0.0.1', '::1'])(
    'refuses %s',
    (address) => {
      expect(guard.check(address)?.code).toBe('TARGET_FORBIDDEN');
    },
  );

  it.each(['64:ff9b::808:808', '64:ff9b::1.1.1.1', '::ffff:0:808:808', '2001:db8::7f00:1', '8.8.8.8', 'example.com'])('lets %s through', (address) => {
    expect(guard.check(address)).toBeUndefined();
  });
});
