import type { MappingConfig } from '../config/load.js';
import { effectiveParams, PARAMETER_VALUE_MAX, type SessionParams } from '../session/parameters.js';
import type { UpstreamMember, UpstreamPlan } from '../upstream/upstream-member.js';
import { SOCKS5_LOGIN_BYTES, socks5LoginProblem } from '../upstream/upstream-url.js';

/** Why a set of parameter values cannot be rendered into a SOCKS5 member's login, or nothing. */
export type Socks5LoginCheck = (params: SessionParams) => string | undefined;

/**
 * For a mapping with SOCKS5 members: why a set of parameter values would make one of their
 * logins longer than SOCKS5 carries (RFC 1929: 255 bytes each for user name and password),
 * checked with an id of the configured length on the mapping's widest port; the client then
 * gets a 400 instead of a session nothing can open. Undefined when no set of values can.
 *
 * A pool may have hundreds of members, and a client chooses the values: rendering every
 * member's login for every new set (a cache of sets can be cycled with new values: 2.7x the CPU
 * per request at 400 members) is not an option. A template fills placeholders by substitution,
 * so once it is known which parameters have a value (that decides which optional segments stay),
 * a login's length is a sum: fixed characters plus, per parameter, its length times the number
 * of times it appears. Each member's sum is measured once per such presence pattern by rendering
 * it, checked at a third point, and the members no other member outgrows are kept; a request's
 * verdict is then arithmetic on its values' lengths. A member whose measurements are not a sum
 * (nothing configurable does that today) is rendered per request, as before.
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

  // Per plan and presence pattern (one bit per name): the sums that bound every member.
  const bounds = new Map<string, Bound>();
  return (params) => {
    for (let p = 0; p < checked.length; p++) {
      const { plan, members } = checked[p]!;
      const effective = effectiveParams(plan.parameters, params);
      // Values are ASCII (PARAMETER_VALUE): a length is a byte count. "" means no value.
      const lengths = names.map((name) => effective[name]?.length ?? 0);
      const key = `${p}:${lengths.map((length) => (length > 0 ? 1 : 0)).join('')}`;
      let bound = bounds.get(key);
      if (!bound) {
        bound = boundFor(members, lengths.map((length) => length > 0), (member, at) => render(member, withLengths(effective, names, at)));
        // At most 2^names patterns per plan, each kept for good: a cap keeps a mapping with very
        // many optional names from growing it without end (the rest are measured per request).
        if (bounds.size < PATTERNS_KEPT) bounds.set(key, bound);
      }
      const problem = bound.problem(lengths, (member) => render(member, effective));
      if (problem) return problem;
    }
    return undefined;
  };
}

/** Patterns kept per mapping (see above). */
const PATTERNS_KEPT = 4096;

/** One member's login lengths as sums: `fixed` + Σ counts[i] × length of value i. */
interface Sum {
  readonly fixed: number;
  readonly counts: readonly number[];
}

interface Bound {
  problem(lengths: readonly number[], renderNow: (member: UpstreamMember) => ReturnType<UpstreamMember['render']>): string | undefined;
}

function isSocks5(member: UpstreamMember): boolean {
  return member.protocol === 'socks5:' || member.protocol === 'socks5h:';
}

/** `effective` with value i replaced by `lengths[i]` characters ("" at 0). */
function withLengths(effective: SessionParams, names: readonly string[], lengths: readonly number[]): SessionParams {
  const params: Record<string, string> = { ...effective };
  names.forEach((name, i) => {
    params[name] = 'x'.repeat(lengths[i]!);
  });
  return params;
}

type Render = (member: UpstreamMember, lengths: readonly number[]) => { readonly username: string; readonly password: string };

/**
 * The bound for one presence pattern. Each member is measured with every present value at one
 * character, then each present value alone at two (the difference is its count), then all at
 * PARAMETER_VALUE_MAX, which the sums must predict; a member for which they do not is rendered
 * per request. Of the sums, only those no other one outgrows are kept.
 */
function boundFor(members: readonly UpstreamMember[], present: readonly boolean[], renderWith: Render): Bound {
  const user: Sum[] = [];
  const password: Sum[] = [];
  const irregular: UpstreamMember[] = [];
  for (const member of members) {
    const sums = measure(member, present, renderWith);
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

function measure(member: UpstreamMember, present: readonly boolean[], renderWith: Render): { user: Sum; password: Sum } | undefined {
  const bytesAt = (lengths: readonly number[]) => {
    const endpoint = renderWith(member, lengths);
    return [Buffer.byteLength(endpoint.username), Buffer.byteLength(endpoint.password)] as const;
  };
  const ones = present.map((isPresent) => (isPresent ? 1 : 0));
  const base = bytesAt(ones);
  const counts = present.map((isPresent, i) => {
    if (!isPresent) return [0, 0] as const;
    const longer = bytesAt(ones.map((length, j) => (j === i ? 2 : length)));
    return [longer[0] - base[0], longer[1] - base[1]] as const;
  });
  const sumOf = (side: 0 | 1): Sum => {
    const sideCounts = counts.map((count) => count[side]);
    return { fixed: base[side] - sideCounts.reduce((total, count) => total + count, 0), counts: sideCounts };
  };
  const user = sumOf(0);
  const password = sumOf(1);
  const longest = present.map((isPresent) => (isPresent ? PARAMETER_VALUE_MAX : 0));
  const check = bytesAt(longest);
  return valueOf(user, longest) === check[0] && valueOf(password, longest) === check[1] ? { user, password } : undefined;
}

function valueOf(sum: Sum, lengths: readonly number[]): number {
  let total = sum.fixed;
  for (let i = 0; i < lengths.length; i++) total += sum.counts[i]! * lengths[i]!;
  return total;
}

/** The sums no other one is at least as large as in every term (values are at least 1 long). */
function outermost(sums: readonly Sum[]): Sum[] {
  const unique = [...new Map(sums.map((sum) => [`${sum.fixed}:${sum.counts.join(',')}`, sum])).values()];
  const covers = (a: Sum, b: Sum) => a !== b && a.fixed + sumCounts(a) >= b.fixed + sumCounts(b) && a.counts.every((count, i) => count >= b.counts[i]!);
  return unique.filter((sum) => !unique.some((other) => covers(other, sum)));
}

function sumCounts(sum: Sum): number {
  return sum.counts.reduce((total, count) => total + count, 0);
}
