import dns from 'node:dns';
import net from 'node:net';
import os from 'node:os';
import { StickyportError } from '../errors.js';

// What a direct connection may not reach unless Listen.AllowPrivateTargets allows it: the
// proxy host itself and the networks behind it. A remote client of a public listener must not
// be able to CONNECT to the Redis that holds the sessions, or to an admin page on 10.x.
const RANGES: Array<[string, number, 'ipv4' | 'ipv6']> = [
  ['0.0.0.0', 8, 'ipv4'], // "this host"
  ['10.0.0.0', 8, 'ipv4'],
  ['100.64.0.0', 10, 'ipv4'], // carrier-grade NAT
  ['127.0.0.0', 8, 'ipv4'],
  ['169.254.0.0', 16, 'ipv4'], // link-local, cloud metadata services
  ['172.16.0.0', 12, 'ipv4'],
  ['192.168.0.0', 16, 'ipv4'],
  ['198.18.0.0', 15, 'ipv4'], // benchmarking networks
  ['224.0.0.0', 3, 'ipv4'], // multicast and reserved, broadcast
  ['::', 128, 'ipv6'],
  ['::1', 128, 'ipv6'],
  ['fc00::', 7, 'ipv6'], // unique local
  ['fe80::', 10, 'ipv6'], // link-local
  ['64:ff9b:1::', 48, 'ipv6'], // a network's own NAT64 (RFC 8215): its IPv4 side is local
];

// IPv6 addresses that carry an IPv4 address in their last 32 bits and reach it: through a NAT64
// gateway (RFC 6052's well-known prefix), the deprecated IPv4-compatible form (::a.b.c.d), or
// the IPv4-translated one (::ffff:0:a.b.c.d).
// Judged by the IPv4 address they carry.
const CARRYING_IPV4: Array<[string, number]> = [
  ['64:ff9b::', 96],
  ['::', 96],
  ['::ffff:0:0:0', 96], // IPv4-translated (RFC 2765), for a translator's use
];

function carryingIpv4(): net.BlockList {
  const list = new net.BlockList();
  for (const [address, prefix] of CARRYING_IPV4) list.addSubnet(address, prefix, 'ipv6');
  return list;
}

/** The IPv4 address in the last 32 bits of an IPv6 address (`::7f00:1` or `::127.0.0.1`). */
function lastIpv4(address: string): string {
  const groups = address.split(':');
  const tail = groups.at(-1)!;
  if (tail.includes('.')) return tail;
  // The last two groups; an empty one (`::` just before them) is zero.
  const high = parseInt(groups.at(-2) || '0', 16);
  const low = parseInt(tail || '0', 16);
  return `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`;
}

function privateRanges(): net.BlockList {
  const list = new net.BlockList();
  for (const [address, prefix, family] of RANGES) list.addSubnet(address, prefix, family);
  // The host's own public addresses reach its services just as well as 127.0.0.1 does.
  for (const addresses of Object.values(os.networkInterfaces())) {
    for (const { address, family } of addresses ?? []) list.addAddress(address.split('%')[0]!, family === 'IPv6' ? 'ipv6' : 'ipv4');
  }
  return list;
}

export class TargetForbiddenError extends StickyportError {
  constructor(hostname: string, address: string) {
    const resolved = hostname === address ? '' : ` (resolves to ${address})`;
    super(
      'TARGET_FORBIDDEN',
      `target ${hostname}${resolved} is a private or loopback address of the proxy's own network; ` +
        'setting Listen.AllowPrivateTargets to true would allow it',
      { status: 403 },
    );
    this.name = 'TargetForbiddenError';
  }
}

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | dns.LookupAddress[], family?: number) => void;

/**
 * Refuses direct connections to private addresses. Names are checked after resolution (a name
 * that resolves to 127.0.0.1 is refused too) by the `lookup` given to net.connect; literal
 * addresses, which net.connect never looks up, by `check` before connecting.
 */
export class TargetGuard {
  private readonly blocked = privateRanges();
  private readonly carrying = carryingIpv4();

  private isBlocked(address: string, family: 'ipv4' | 'ipv6'): boolean {
    if (this.blocked.check(address, family)) return true;
    return family === 'ipv6' && this.carrying.check(address, 'ipv6') && this.blocked.check(lastIpv4(address.split('%')[0]!), 'ipv4');
  }

  /**
   * The error for a literal address that is not allowed, or undefined. Hosts come here in their
   * one canonical spelling (tunnels: proxy/target-host.ts; plain HTTP: WHATWG URL; a host rule's
   * OverrideHost: read the same way with the configuration), so `127.1` arrives as 127.0.0.1.
   */
  check(hostname: string): TargetForbiddenError | undefined {
    const family = net.isIP(hostname);
    if (family === 0) return undefined;
    return this.isBlocked(hostname, family === 6 ? 'ipv6' : 'ipv4') ? new TargetForbiddenError(hostname, hostname) : undefined;
  }

  /** A net.connect `lookup` that fails with TargetForbiddenError when any answer is private. */
  readonly lookup = (hostname: string, options: dns.LookupOptions, callback: LookupCallback): void => {
    dns.lookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, '');
      const forbidden = addresses.find(({ address, family }) => this.isBlocked(address, family === 6 ? 'ipv6' : 'ipv4'));
      if (forbidden) return callback(new TargetForbiddenError(hostname, forbidden.address) as unknown as NodeJS.ErrnoException, '');
      if (options.all) return callback(null, addresses);
      callback(null, addresses[0]!.address, addresses[0]!.family);
    });
  };
}
