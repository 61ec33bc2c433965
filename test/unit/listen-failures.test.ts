import { describe, expect, it } from 'vitest';
import { describeListenFailures } from '../../src/proxy/listener-pool.js';

describe('the LISTEN_FAILED message', () => {
  const busy = (ports: number[], code = 'EADDRINUSE') => new Map(ports.map((port) => [port, code]));
  const range = (first: number, count: number) => Array.from({ length: count }, (_, i) => first + i);

  it('sums up a hundred busy ports in one line with a command that names the holder', () => {
    expect(describeListenFailures('127.0.0.1', busy(range(30000, 100)))).toBe(
      'cannot listen on 127.0.0.1: ports 30000-30099 (EADDRINUSE) are in use by another program. ' +
        "To see what holds them: ss -ltnp 'sport >= :30000 and sport <= :30099' (or lsof -nP -iTCP:30000 -sTCP:LISTEN)",
    );
  });

  it('names one port, several ranges, other codes and the ports not tried', () => {
    expect(describeListenFailures('127.0.0.1', busy([10203]))).toBe(
      "cannot listen on 127.0.0.1: port 10203 (EADDRINUSE) is in use by another program. To see what holds it: ss -ltnp 'sport = :10203' " +
        '(or lsof -nP -iTCP:10203 -sTCP:LISTEN)',
    );
    const mixed = new Map([...busy([80, 81], 'EACCES'), ...busy([10201, 10202, 10205])]);
    expect(describeListenFailures('::1', mixed, { untried: range(11000, 3) })).toMatch(
      /^cannot listen on ::1: ports 80-81 \(EACCES\) are not permitted: ports below 1024 need root or CAP_NET_BIND_SERVICE; ports 10201-10202, 10205 \(EADDRINUSE\) are in use by another program; 3 more ports were not tried\. To see what holds them: ss -ltnp 'sport >= :10201 and sport <= :10205'/,
    );
    const scattered = busy(range(0, 10).map((i) => 20000 + 2 * i));
    expect(describeListenFailures('127.0.0.1', scattered)).toContain('ports 20000, 20002, 20004, 20006, 20008, 20010 and 4 more ranges (EADDRINUSE)');
    expect(describeListenFailures('10.9.9.9', busy([1, 2], 'EADDRNOTAVAIL'))).toBe(
      "cannot listen on 10.9.9.9: ports 1-2 (EADDRNOTAVAIL) are not available: the address is not one of this machine's (Listen.Host)",
    );
  });
});

it('says what ENOTFOUND means for Listen.Host: a host name nothing resolves', () => {
  expect(describeListenFailures('no such host', new Map([[10201, 'ENOTFOUND']]))).toBe(
    'cannot listen on no such host: port 10201 (ENOTFOUND) is not available: the host is not a name this machine resolves (Listen.Host)',
  );
});
