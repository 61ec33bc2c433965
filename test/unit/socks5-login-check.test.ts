import { describe, expect, it } from 'vitest';
import type { MappingConfig } from '../../src/config/load.js';
import { socks5LoginCheck } from '../../src/ports/socks5-login-check.js';
import type { SessionParams } from '../../src/session/parameters.js';
import { templateMember, type UpstreamMember, type UpstreamPlan } from '../../src/upstream/upstream-member.js';
import { parseUpstreamTemplate, socks5LoginProblem } from '../../src/upstream/upstream-url.js';

// A mapping with SOCKS5 members refuses (400) parameter values that would make a member's login
// longer than SOCKS5 carries. The check used to render every member for every new set of
// values, behind a cache of 1 024 sets that a client could cycle with fresh values: with 400
// members, 2.7x the CPU per request. It now reckons lengths as sums measured once per presence
// pattern. Judged here against the plain answer (render every member, measure both fields) over
// a generated class of templates and values, and by counting renders.

const CONFIG = { portEnd: 10_299, lifetimeMs: 600_000 } as MappingConfig;
const ID_LENGTH = 8;
const LIMIT = 255;

/** A small deterministic generator (mulberry32), so a failure names a case that comes back. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const NAMES = ['country', 'city', 'zip_code'] as const;
const VALUE_CHARS = 'ABCxyz019_';

/** A user name or password template: fixed text, segments that drop without a value, repeats. */
function template(next: () => number, prefixLength: number): string {
  const parts = [`c${'a'.repeat(prefixLength)}`];
  for (const name of NAMES) {
    const roll = next();
    if (roll < 0.25) continue;
    if (roll < 0.5) parts.push(`${name}-{${name}}`);
    else if (roll < 0.7) parts.push(`x${name.length}_{${name}}`);
    else if (roll < 0.85) parts.push(`{${name}}{${name}}`);
    else parts.push(`${name}.{${name}}`);
  }
  parts.push('session-{session}');
  return parts.join('-');
}

function plansFor(seed: number): UpstreamPlan[] {
  const next = random(seed);
  const plan = (): UpstreamPlan => {
    const members = Array.from({ length: 1 + Math.floor(next() * 6) }, (_, i) => {
      const user = template(next, 60 + Math.floor(next() * 150));
      const password = next() < 0.3 ? template(next, 40 + Math.floor(next() * 150)) : 'pw';
      const protocol = next() < 0.8 ? 'socks5h' : 'http';
      return templateMember(parseUpstreamTemplate(`${protocol}://${user}:${password}@127.0.0.${i + 1}:1080`, 'any'));
    });
    const parameters = Object.fromEntries(NAMES.map((name) => [name, next() < 0.4 ? 'x'.repeat(1 + Math.floor(next() * 40)) : '']));
    return { members, parameters };
  };
  return next() < 0.7 ? [plan()] : [plan(), plan()];
}

function valuesFor(next: () => number): SessionParams {
  const params: Record<string, string> = {};
  for (const name of NAMES) {
    if (next() < 0.35) continue;
    const length = next() < 0.3 ? 64 : 1 + Math.floor(next() * 64);
    params[name] = Array.from({ length }, () => VALUE_CHARS[Math.floor(next() * VALUE_CHARS.length)]).join('');
  }
  return params;
}

/** Every member rendered: the lengths of each field over the limit. */
function plainAnswer(plans: readonly UpstreamPlan[], params: SessionParams): { user: number[]; password: number[] } {
  const over = { user: [] as number[], password: [] as number[] };
  for (const plan of plans) {
    for (const member of plan.members) {
      if (member.protocol !== 'socks5h:' && member.protocol !== 'socks5:') continue;
      const endpoint = member.render({ session: 'x'.repeat(ID_LENGTH), port: CONFIG.portEnd, lifetimeMs: CONFIG.lifetimeMs, params: { ...plan.parameters, ...params } });
      if (!socks5LoginProblem(endpoint)) continue;
      if (Buffer.byteLength(endpoint.username) > LIMIT) over.user.push(Buffer.byteLength(endpoint.username));
      if (Buffer.byteLength(endpoint.password) > LIMIT) over.password.push(Buffer.byteLength(endpoint.password));
    }
  }
  return over;
}

describe('the SOCKS5 login-length check', () => {
  it('agrees with rendering every member, over generated templates and values', () => {
    let refused = 0;
    let accepted = 0;
    for (let seed = 1; seed <= 300; seed++) {
      const plans = plansFor(seed);
      const check = socks5LoginCheck(plans, CONFIG, ID_LENGTH);
      const next = random(seed * 7919);
      for (let i = 0; i < 40; i++) {
        const params = valuesFor(next);
        const over = plainAnswer(plans, params);
        const problem = check?.(params);
        const context = `seed ${seed}, values ${JSON.stringify(params)}`;
        if (over.user.length === 0 && over.password.length === 0) {
          expect(problem, context).toBeUndefined();
          accepted++;
          continue;
        }
        refused++;
        // The bytes it names are a real member's, in the field it names.
        const said = /^the SOCKS5 (user name|password) would be (\d+) bytes long: SOCKS5 carries at most 255 \(RFC 1929\)$/.exec(problem ?? '');
        expect(said, context).not.toBeNull();
        expect(over[said![1] === 'user name' ? 'user' : 'password'], context).toContain(Number(said![2]));
      }
    }
    // The class reaches both answers often, or the comparison would say little.
    expect(refused).toBeGreaterThan(1_000);
    expect(accepted).toBeGreaterThan(1_000);
  });

  it('renders no member for any new set of values once it has measured them', () => {
    let renders = 0;
    const counted = (member: UpstreamMember): UpstreamMember => ({ ...member, render: (vars) => (renders++, member.render(vars)) });
    const members = Array.from({ length: 400 }, (_, i) =>
      counted(templateMember(parseUpstreamTemplate(`socks5h://c${i}-${'a'.repeat(150)}-country-{country}-city-{city}-{asn}-session-{session}:pw@127.0.0.${(i % 200) + 1}:1080`, 'any'))),
    );
    const check = socks5LoginCheck([{ members, parameters: { country: 'us', city: '', asn: '' } }], CONFIG, ID_LENGTH)!;
    expect(check).toBeDefined();
    expect(check({ country: 'de' })).toBeUndefined();
    const measured = renders;
    // A client cycling fresh values and every combination of parameters, more than any cache of
    // sets or of patterns would hold, costs arithmetic only.
    const combinations: SessionParams[] = [{}, { city: 'x' }, { asn: 'y' }, { city: 'x', asn: 'y' }];
    for (let i = 0; i < 8_000; i++) check({ country: `v${String(i).padStart(5, '0')}`, ...combinations[i % 4] });
    expect(renders).toBe(measured);
    // ...and the answers are still right on both sides of the limit.
    const fitting = 255 - Buffer.byteLength(`c399-${'a'.repeat(150)}-country--city-x-y-session-xxxxxxxx`);
    expect(check({ country: 'v'.repeat(fitting), city: 'x', asn: 'y' })).toBeUndefined();
    expect(check({ country: 'v'.repeat(fitting + 1), city: 'x', asn: 'y' })).toMatch(/user name would be 256 bytes long/);
  });
});
