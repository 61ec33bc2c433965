import type { MappingConfig } from '../config/load.js';
import { effectiveParams, PARAMETER_VALUE_MAX, type SessionParams } from '../session/parameters.js';
import type { UpstreamMember, UpstreamPlan } from '../upstream/upstream-member.js';
import { SOCKS5_LOGIN_BYTES, socks5LoginProblem, type UpstreamEndpoint } from '../upstream/upstream-url.js';

/** Why a set of parameter values cannot be rendered into a SOCKS5 member's login, or nothing. */
export type Socks5LoginCheck = (params: SessionParams) => string | undefined;

/**
 * For a mapping with SOCKS5 members: why a set of parameter values would make one of their
 * logins longer than SOCKS5 carries (RFC 1929: 255 bytes each for user name and password),
 * checked with an id of the configured length on the mapping's widest port; the client then
 * gets a 400 instead of a session nothing can open. Undefined when no set of values can.
 *
 * A pool may have hundreds of members, and a client chooses the values: rendering every
 * member's login for every new set (a cache of sets can be cycled with fresh values: 2.7x the
 * CPU per request at 400 members) is not an option. A template fills its placeholders by
 * substitution, and a parameter without a value drops its own segments (`-country-{country}`)
 * and nothing else, so a login's length is a sum: what it has with no parameter at all, plus,
 * for each parameter with a value, its segments' fixed characters and its length times the
 * number of times it appears. Each member's sum is measured once by rendering it, and checked
 * at every parameter's longest value; of the sums, those no other one outgrows are kept, and a
 * request's verdict is arithmetic on its values' lengths. A member whose renders are not such a
 * sum (nothing configurable does that today) is rendered per request, as before.
 */
export function socks5LoginCheck(plans: readonly UpstreamPlan[], config: MappingConfig, idLength: number): Socks5LoginCheck | undefined {
  const checked = plans.map((plan) => ({ plan, members: plan.members.filter(isSocks5) })).filter(({ members }) => members.length > 0);
  if (checked.length === 0) return undefined;
  const names = [...new Set(plans.flatMap((plan) => Object.keys(plan.parameters)))];
  const vars = { session: 'x'.repeat(idLength), port: config.portEnd, lifetimeMs: config.lifetimeMs };
  const render = (member: UpstreamMember, params: SessionParams) => member.render({ ...vars, params });
  // Every declared parameter at its longest value: when even that fits, no set of values can
  // pass the limit, and requests are not checked at all (the usual case).
  const longest = Object.fromEntries(names.map((name) => [name, 'x'.repeat(PARAMETER_VALUE_MAX)]));
  const fits = checked.every(({ plan, members }) => members.every((member) => socks5LoginProblem(render(member, effectiveParams(plan.parameters, longest))) === undefined));
  if (fits) return undefined;

  // Measured on the first check (a mapping is built at every reload; most are never asked).
  let bounds: Bound[] | undefined;
  const measureAll = () => checked.map(({ members }) => boundFor(members, names.length, (member, lengths) => render(member, valuesOf(names, lengths))));
  return (params) => {
    bounds ??= measureAll();
    for (let p = 0; p < checked.length; p++) {
      const effective = effectiveParams(checked[p]!.plan.parameters, params);
      // Values are ASCII (PARAMETER_VALUE): a length is a byte count. 0: no value.
      const lengths = names.map((name) => effective[name]?.length ?? 0);
      const problem = bounds[p]!.problem(lengths, (member) => render(member, effective));
      if (problem) return problem;
    }
    return undefined;
  };
}

/** One login field's length: `none` with no parameter, plus, per parameter i with a value of length n, `fixed[i]` + `per[i]` × n. */
interface Sum {
  readonly none: number;
  readonly fixed: readonly number[];
  readonly per: readonly number[];
}

interface Bound {
  problem(lengths: readonly number[], renderNow: (member: UpstreamMember) => UpstreamEndpoint): string | undefined;
}

type Render = (member: UpstreamMember, lengths: readonly number[]) => { readonly username: string; readonly password: string };

function isSocks5(member: UpstreamMember): boolean {
  return member.protocol === 'socks5:' || member.protocol === 'socks5h:';
}

/** Values of the given lengths ("" at 0: no value). */
function valuesOf(names: readonly string[], lengths: readonly number[]): SessionParams {
  return Object.fromEntries(names.map((name, i) => [name, 'x'.repeat(lengths[i]!)]));
}

function boundFor(members: readonly UpstreamMember[], count: number, renderWith: Render): Bound {
  const user: Sum[] = [];
  const password: Sum[] = [];
  const irregular: UpstreamMember[] = [];
  for (const member of members) {
    const sums = measure(member, count, renderWith);
    if (!sums) irregular.push(member);
    else {
      user.push(sums.user);
      password.push(sums.password);
    }
  }
  const users = outermost(user);
  const passwords = outermost(password);
  return {
    problem(lengths, renderNow) {
      for (const [what, sums] of [['user name', users], ['password', passwords]] as const) {
        for (const sum of sums) {
          const bytes = valueOf(sum, lengths);
          if (bytes > SOCKS5_LOGIN_BYTES) return `the SOCKS5 ${what} would be ${bytes} bytes long: SOCKS5 carries at most ${SOCKS5_LOGIN_BYTES} (RFC 1929)`;
        }
      }
      for (const member of irregular) {
        const problem = socks5LoginProblem(renderNow(member));
        if (problem) return problem;
      }
      return undefined;
    },
  };
}

/**
 * `member`'s sums: rendered with no parameter, then each parameter alone at one and at two
 * characters; checked with every parameter at its longest, and with every one at one character.
 */
function measure(member: UpstreamMember, count: number, renderWith: Render): { user: Sum; password: Sum } | undefined {
  const bytesAt = (lengths: readonly number[]) => {
    const endpoint = renderWith(member, lengths);
    return [Buffer.byteLength(endpoint.username), Buffer.byteLength(endpoint.password)] as const;
  };
  const alone = (i: number, length: number) => bytesAt(Array.from({ length: count }, (_, j) => (j === i ? length : 0)));
  const none = bytesAt(new Array<number>(count).fill(0));
  const ones = Array.from({ length: count }, (_, i) => alone(i, 1));
  // A parameter this member does not render (the mapping's others, a host rule's) adds nothing:
  // not rendered again (a mapping may declare dozens, each costing a render per member).
  const twos = ones.map((one, i) => (one[0] === none[0] && one[1] === none[1] ? none : alone(i, 2)));
  const sumOf = (side: 0 | 1): Sum => {
    const per = ones.map((one, i) => twos[i]![side] - one[side]);
    return { none: none[side], fixed: ones.map((one, i) => one[side] - none[side] - per[i]!), per };
  };
  const sums = { user: sumOf(0), password: sumOf(1) };
  for (const length of [1, PARAMETER_VALUE_MAX]) {
    const lengths = new Array<number>(count).fill(length);
    const [user, password] = bytesAt(lengths);
    if (valueOf(sums.user, lengths) !== user || valueOf(sums.password, lengths) !== password) return undefined;
  }
  return sums;
}

function valueOf(sum: Sum, lengths: readonly number[]): number {
  let total = sum.none;
  for (let i = 0; i < lengths.length; i++) if (lengths[i]! > 0) total += sum.fixed[i]! + sum.per[i]! * lengths[i]!;
  return total;
}

/**
 * The sums no other one is at least as large as for every set of values: as large with no
 * parameter, and for each parameter at one character and at the longest (its term is linear).
 */
function outermost(sums: readonly Sum[]): Sum[] {
  const unique = [...new Map(sums.map((sum) => [`${sum.none}:${sum.fixed.join(',')}:${sum.per.join(',')}`, sum])).values()];
  const term = (sum: Sum, i: number, length: number) => sum.fixed[i]! + sum.per[i]! * length;
  const covers = (a: Sum, b: Sum) =>
    a !== b && a.none >= b.none && a.per.every((_, i) => term(a, i, 1) >= term(b, i, 1) && term(a, i, PARAMETER_VALUE_MAX) >= term(b, i, PARAMETER_VALUE_MAX));
  return unique.filter((sum) => !unique.some((other) => covers(other, sum)));
}
