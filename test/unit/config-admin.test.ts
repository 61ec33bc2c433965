import { describe, expect, it } from 'vitest';
import { load, refusal } from './config-fixtures.js';

// The admin server: off by default; "auto" binds Listen.Host on the port just below the range;
// anywhere but loopback it needs a token; it never shares a port with the range.

describe('Admin', () => {
  it('is off by default, and "auto" means Listen.Host and the port below the first', () => {
    const config = load({});
    expect(config.admin).toEqual({ enabled: false, host: '127.0.0.1', port: 10200, portAuto: true, token: '' });
    const moved = load({ config: { Listen: { Host: '127.0.0.2', PortRange: { Start: 20001, End: 20010 } }, Admin: { Enabled: true } } });
    expect(moved.admin).toMatchObject({ enabled: true, host: '127.0.0.2', port: 20000 });
  });

  it('takes a host and port of its own, from a file or the environment', () => {
    expect(load({ config: { Admin: { Enabled: true, Host: '::1', Port: 9000 } } }).admin).toMatchObject({ host: '::1', port: 9000 });
    expect(load({ env: { STICKYPORT_ADMIN_ENABLED: '1', STICKYPORT_ADMIN_PORT: '9001' } }).admin).toMatchObject({ enabled: true, port: 9001 });
    expect(load({ env: { STICKYPORT_ADMIN_PORT: 'auto' } }).admin.port).toBe(10200);
  });

  // The server reads the token from "Authorization: Bearer TOKEN" up to the first space: one
  // with a space passed `check` and could never unlock the API.
  it.each(['two words', ' lead', 'tab\tinside', 'line\nbreak'])('refuses a token that cannot be sent as one Bearer word (%j), never showing it', (token) => {
    const error = refusal({ config: { Admin: { Enabled: true, Token: token } } });
    expect(error.keys).toEqual(['Admin.Token']);
    // A control character is refused by every text key; a space by the token's own check.
    expect(error.message).toMatch(/must be one word with no spaces or control characters|without control characters/);
    expect(error.message).not.toContain(token);
  });

  // The README promises every bad value stops start-up: the token's was judged only with the admin
  // server on, so `check` passed and the start failed the day someone turned it on (a README pass).
  it('refuses such a token with the admin server off too, from a file or the environment', () => {
    expect(refusal({ config: { Admin: { Token: 'two words' } } }).keys).toEqual(['Admin.Token']);
    expect(refusal({ env: { STICKYPORT_ADMIN_TOKEN: 'two words' } }).keys).toEqual(['Admin.Token']);
  });

  it('refuses a non-loopback host without a token, naming Admin.Token and the host', () => {
    const error = refusal({ config: { Admin: { Enabled: true, Host: '0.0.0.0' } } });
    expect(error.keys).toEqual(['Admin.Token']);
    expect(error.message).toContain('Admin.Host 0.0.0.0, which is not a loopback address');
    const viaListen = refusal({
      config: {
        Listen: { Host: '0.0.0.0' },
        Authentication: { Required: true, Username: 'u', Password: 'p' },
        Admin: { Enabled: true },
      },
    });
    expect(viaListen.keys).toEqual(['Admin.Token']);
    expect(viaListen.message).toContain('Admin.Host "auto", that is the first mapping\'s host 0.0.0.0');
  });

  it('accepts a non-loopback host with a token, and never shows the token', () => {
    const config = load({ config: { Admin: { Enabled: true, Host: '0.0.0.0', Token: 'tok-secret-1234' } } });
    expect(config.admin).toMatchObject({ host: '0.0.0.0', token: 'tok-secret-1234' });
    const error = refusal({ config: { Admin: { Enabled: true, Port: 'x', Token: 'tok-secret-1234' } } });
    expect(error.message).not.toContain('tok-secret-1234');
  });

  it('is not checked while disabled', () => {
    expect(load({ config: { Admin: { Host: '0.0.0.0', Port: 10250 } } }).admin.enabled).toBe(false);
  });

  it('refuses a port inside the range, and "auto" below port 1', () => {
    const inside = refusal({ config: { Admin: { Enabled: true, Port: 10250 } } });
    expect(inside.keys).toEqual(['Admin.Port']);
    expect(inside.message).toContain('10250 is inside the ports 10201-10300 of mapping "default"');
    const first = refusal({ config: { Listen: { PortRange: { Start: 1, End: 5 } }, Admin: { Enabled: true } } });
    expect(first.keys).toEqual(['Admin.Port']);
    expect(first.message).toContain('ports start at 1');
  });

  it.each(['10200', 0, 65536, 1.5, 'Auto', true])('refuses Admin.Port %j', (value) => {
    const error = refusal({ config: { Admin: { Port: value } } });
    expect(error.keys).toEqual(['Admin.Port']);
    expect(error.message).toContain('must be a port number');
  });

  it('refuses an empty Admin.Host', () => {
    expect(refusal({ config: { Admin: { Host: ' ' } } }).keys).toEqual(['Admin.Host']);
  });

  it('Metrics.PerPortLabels is off by default', () => {
    expect(load({}).metrics.perPortLabels).toBe(false);
    expect(load({}).logging).toEqual({ requests: true, requestUrls: false });
  });
});
