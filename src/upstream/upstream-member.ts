import { createHash } from 'node:crypto';
import type { SessionParams } from '../session/parameters.js';
import {
  describeUpstream,
  hostForUrl,
  renderUpstream,
  type UpstreamEndpoint,
  type UpstreamProtocol,
  type UpstreamTemplate,
} from './upstream-url.js';

/** What a member renders a session's endpoint from. */
export interface MemberVars {
  readonly session: string;
  /** The local port. */
  readonly port: number;
  /** The mapping's session lifetime; 0 = never expires. */
  readonly lifetimeMs: number;
  /** The session's parameters with the defaults applied; "" = no value. */
  readonly params: SessionParams;
}

/**
 * One upstream a session can go out through: a URL template (`Upstream.Url`, one of
 * `Upstream.Urls`) or a provider preset. Its `key` is what a session pinned to it stores.
 */
export interface UpstreamMember {
  /** `host:port` as configured (placeholders included): stable across restarts and instances. */
  readonly key: string;
  readonly protocol: UpstreamProtocol;
  /** For logs and the start-up line: never the password. */
  readonly description: string;
  /** False for a template without {session}: every port then shares one identity. */
  readonly hasSessionPlaceholder: boolean;
  render(vars: MemberVars): UpstreamEndpoint;
}

/**
 * What tells two members apart for a reload: all they render from, the password included (as a
 * digest), which `description` leaves out. A reload that changed only the password compared
 * members by their JSON, found them equal and kept the old password. Held beside the member,
 * not on it, so that no JSON of the configuration carries even the digest.
 */
const renderedFrom = new WeakMap<UpstreamMember, string>();

/** The digest of all `member` renders from (see renderedFrom); undefined for anything else. */
export function memberMaterial(value: unknown): string | undefined {
  return typeof value === 'object' && value !== null ? renderedFrom.get(value as UpstreamMember) : undefined;
}

/** The same without the password: what makes the exit a session gets (see sameExit). */
const exitFrom = new WeakMap<UpstreamMember, string>();

/** `member`, with the digest of what it renders from recorded. */
export function withMaterial(member: UpstreamMember, material: unknown): UpstreamMember {
  renderedFrom.set(member, createHash('sha256').update(JSON.stringify(material)).digest('base64'));
  // A password with a placeholder carries routing fields (`..._country-{country}_session-{session}`,
  // the iproyal way): part of the exit, not only a secret, so it stays in.
  const withoutPassword = JSON.stringify(material, (key, value: unknown) => (key === 'password' && typeof value === 'string' && !value.includes('{') ? undefined : value));
  exitFrom.set(member, createHash('sha256').update(withoutPassword).digest('base64'));
  const password = (material as { password?: unknown } | null)?.password;
  if (typeof password === 'string' && !password.includes('{')) plainPassword.add(member);
  return member;
}

/**
 * Whether two members give a session the same exit: they render the same endpoint and login but
 * for the password, which the provider checks and does not route by (a password holding a
 * placeholder routes too, and must be the same). A reload that changed only
 * the password may then apply it to running sessions (ports/port-state.ts).
 */
export function sameExit(a: UpstreamMember, b: UpstreamMember): boolean {
  const exit = exitFrom.get(a);
  return exit !== undefined && exit === exitFrom.get(b);
}

/** The member a member made by withPasswordOf stands for, so that derivations do not chain. */
const derivedFrom = new WeakMap<UpstreamMember, UpstreamMember>();

/** Members whose configured password holds no placeholder (recorded with their material). */
const plainPassword = new WeakSet<UpstreamMember>();

/** Two sessions' worth of values apart: what a plain password must not change with. */
const SAMPLES: readonly MemberVars[] = [
  { session: 'a', port: 1, lifetimeMs: 60_000, params: {} },
  { session: 'bb', port: 2, lifetimeMs: 120_000, params: {} },
];

/**
 * The password `member` sends whatever the session, or undefined when it carries fields: a
 * placeholder in the configured password (`pw_country-{country}`), or fields a preset renders
 * into it (iproyal's `_session-...`). Such a password routes: it is part of the exit.
 */
function fixedPassword(member: UpstreamMember): string | undefined {
  // Once per member: a reload compares every member of a pool with every one of the settings
  // before (a pool of 400 on one gateway: 160 000 comparisons).
  if (fixedPasswords.has(member)) return fixedPasswords.get(member);
  let password: string | undefined;
  if (plainPassword.has(derivedFrom.get(member) ?? member)) {
    const [first, second] = SAMPLES.map((vars) => member.render(vars).password);
    password = first === second ? first : undefined;
  }
  fixedPasswords.set(member, password);
  return password;
}

/** fixedPassword's answers (members never change). */
const fixedPasswords = new WeakMap<UpstreamMember, string | undefined>();

/** Whether two members send the same plain password. */
export function samePlainPassword(a: UpstreamMember, b: UpstreamMember): boolean {
  const password = fixedPassword(a);
  return password !== undefined && password === fixedPassword(b);
}

/**
 * `member` (its exit: host, port, user name) with `donor`'s password, for a session still
 * running on settings from before a reload that changed its exit when a later reload changes
 * only the provider's password (ports/port-state.ts). Only a plain password is taken or
 * replaced. Undefined when there is nothing to take.
 */
export function withPasswordOf(member: UpstreamMember, donor: UpstreamMember): UpstreamMember | undefined {
  const base = derivedFrom.get(member) ?? member;
  const own = fixedPassword(member);
  const taken = fixedPassword(donor);
  if (own === undefined || taken === undefined || own === taken) return undefined;
  const derived: UpstreamMember = { ...base, render: (vars) => ({ ...base.render(vars), password: taken }) };
  derivedFrom.set(derived, base);
  renderedFrom.set(derived, createHash('sha256').update(`${renderedFrom.get(base)}\0${renderedFrom.get(donor)}`).digest('base64'));
  const exit = exitFrom.get(base);
  if (exit !== undefined) exitFrom.set(derived, exit);
  return derived;
}

/** A member from a URL template. */
export function templateMember(template: UpstreamTemplate): UpstreamMember {
  return withMaterial(memberFrom(template), template);
}

function memberFrom(template: UpstreamTemplate): UpstreamMember {
  return {
    key: `${hostForUrl(template.hostname)}:${template.port}`,
    protocol: template.protocol,
    description: describeUpstream(template),
    hasSessionPlaceholder: template.hasSessionPlaceholder,
    render: (vars) =>
      renderUpstream(template, { session: vars.session, port: vars.port, lifetime: Math.round(vars.lifetimeMs / 60_000), params: vars.params }),
  };
}

/** An upstream as the configuration names it: its members (none = direct) and parameters. */
export interface UpstreamPlan {
  /** Empty: no upstream, connect to targets directly. */
  readonly members: readonly UpstreamMember[];
  /** Declared parameter names with their defaults ("" = none). */
  readonly parameters: SessionParams;
  /**
   * Characters besides "-" that this upstream's login puts between its fields ("_" for iproyal's
   * password, or a template such as `acme_country_{country}_session_{session}`): a parameter
   * value must not hold them, or it would add a field of the client's choosing.
   */
  readonly separators?: string;
}

export const DIRECT: UpstreamPlan = Object.freeze({ members: [], parameters: Object.freeze({}) });

/** FNV-1a: a member for a session where there is no stored choice, the same on every instance. */
export function memberByHash<T>(members: readonly T[], id: string): T {
  let hash = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) hash = Math.imul(hash ^ id.charCodeAt(i), 0x01000193);
  return members[(hash >>> 0) % members.length]!;
}
