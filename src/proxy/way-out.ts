import type net from 'node:net';
import type { HostRuleConfig } from '../config/load.js';
import { StickyportError, UpstreamError } from '../errors.js';
import type { Logger } from '../logging/logger.js';
import { inert } from '../logging/quoted.js';
import { CONTESTED_LIMIT, parametersConflict, type Binding, type PortState } from '../ports/port-state.js';
import { hostForRules } from '../rules/host-pattern.js';
import type { SessionParams } from '../session/parameters.js';
import { RetiredBeforeSent, type OpenTunnel, type UpstreamRoute } from '../upstream/route.js';
import type { Drain } from './drain.js';

/** Where a target goes once the host rules have spoken. */
export interface WayOut {
  readonly route: UpstreamRoute;
  /** The target to connect to: the request's, or the rule's OverrideHost/OverridePort. */
  readonly hostname: string;
  readonly port: number;
  /** True when the route carries the port's session: a rotation closes a tunnel opened on it. */
  readonly bound: boolean;
  /** The rule that decided, if any did. */
  readonly rule: HostRuleConfig | undefined;
}

/**
 * The one place host rules are applied, for plain HTTP, CONNECT, WebSocket and SOCKS alike:
 * the mapping's own rules, then the global ones; the first whose pattern matches the target's
 * host decides; no match is Allow. Deny throws HOST_DENIED (403) before anything is sent;
 * Bypass takes the mapping's direct route (Listen.AllowPrivateTargets still applies); Allow
 * takes the port's session, or the rule's own upstream rendered for it. OverrideHost and
 * OverridePort change where the connection goes, not what the client asked for: the Host header
 * of a plain request (and, in a tunnel, the TLS name) stay the client's.
 */
export function wayOut(state: PortState, binding: Binding, hostname: string, port: number, log: Logger): WayOut {
  const { rules } = state.policy;
  let rule: HostRuleConfig | undefined;
  if (rules.size > 0) {
    rule = rules.match(hostname);
    if (log.isLevelEnabled('debug')) {
      log.debug({ port: state.port, host: hostForRules(hostname), rule: rule?.source ?? 'none', pattern: rule?.pattern, action: rule?.action ?? 'Allow' }, 'host rule decided');
    }
  }
  if (!rule) return { route: binding.route, hostname, port, bound: true, rule };
  if (rule.action === 'Deny') {
    // The pattern as written in the configuration (JSON's quoting doubled a regular expression's backslashes).
    throw new StickyportError('HOST_DENIED', `${hostname} is denied by ${rule.source} ("${inert(rule.pattern)}"): nothing was sent`, { status: 403 });
  }
  const to = { hostname: rule.overrideHost ?? hostname, port: rule.overridePort ?? port };
  if (rule.action === 'Bypass') return { route: state.mapping.bypass, ...to, bound: false, rule };
  return { route: rule.upstream ? state.ruleRoute(binding, rule) : binding.route, ...to, bound: true, rule };
}

/**
 * Opens the upstream side of a tunnel (HTTP CONNECT or SOCKS) for hostname:port, host rules
 * applied, and binds the client's socket to the session when the way carries it. A rotation
 * that landed while the upstream side was opening sends the tunnel out again on the new session
 * instead of cutting a client that got no answer, with the parameters of the client's own login
 * (`params`, as given to current()): a rotation to another client's parameters is never taken
 * for this one. Undefined when the client left meanwhile. When a stop's drain time is over
 * first, it throws STOPPING (`drain`).
 */
export async function openTunnelFor(
  state: PortState,
  binding: Binding,
  socket: net.Socket,
  hostname: string,
  port: number,
  log: Logger,
  drain: Drain,
  params?: SessionParams,
): Promise<OpenTunnel | undefined> {
  const book = state.policy.rotation;
  // Any rules at all: a tunnel that opens is a success, which ends the runs of answer rules too.
  const rules = book && (book.connect.length > 0 || book.watchesAnswers) ? book.forPort(state) : undefined;
  let retried = false;
  let contested = 0;
  let rotatedAway = 0;
  const askedAt = performance.now();
  for (let current = binding; ; current = await state.current(params)) {
    // The client left while a session was found or the tunnel sent out again: nothing more goes out for it.
    if (socket.destroyed) return undefined;
    const way = wayOut(state, current, hostname, port, log);
    let opened: OpenTunnel;
    try {
      // A session's login leaves only while it is the port's: a rotation that lands while the
      // upstream connection comes up sends nothing more on the old one (no old id after the answer).
      // (Nor on a route a reload rendered again for a new password, or whose host rule it replaced.)
      const opening = way.route.openTunnel(way.hostname, way.port, way.bound ? () => state.carries(current) && !way.route.retired : undefined);
      opened = await drain.whileOpening(socket, opening, closeUpstreamSide);
    } catch (error) {
      if (error instanceof StickyportError && error.code === 'STOPPING') throw error;
      if (error instanceof RetiredBeforeSent) {
        if (params !== undefined && ++contested >= CONTESTED_LIMIT) throw parametersConflict(state.port);
        checkDeadline(way.route, askedAt, ++rotatedAway);
        continue;
      }
      if (!(error instanceof StickyportError)) throw error;
      state.upstreamFailed(way.route, error);
      // A ConnectStatus rule may rotate the port; rotate-and-retry opens the tunnel once more on
      // the new session (nothing was sent through this one).
      const retry = rules && way.bound ? rules.tunnelFailed(way.route, error, !retried) : undefined;
      if (retry === undefined || socket.destroyed) throw error;
      retried = true;
      await retry;
      continue;
    }
    if (way.bound) rules?.tunnelOpened(way.route);
    if (socket.destroyed) {
      opened.reads.socket.destroy();
      return undefined;
    }
    if (!way.bound || state.bindTunnel(current, socket)) return opened;
    opened.reads.socket.destroy();
    checkDeadline(way.route, askedAt, ++rotatedAway);
    // Sent out again with its own parameters, it may rotate the port back: clients asking for
    // other parameters at the same moment would toss it to and fro for ever (as load() bounds).
    if (params !== undefined && ++contested >= CONTESTED_LIMIT) throw parametersConflict(state.port);
  }
}

function closeUpstreamSide(opened: OpenTunnel): void {
  opened.reads.socket.destroy();
}

/**
 * A tunnel is sent out again after each rotation, each time with a fresh ConnectTimeout:
 * rotations coming faster than the upstream answers a CONNECT held the client for as long as
 * they came. Past ConnectTimeout since the client asked (`askedAt`), it is not sent out again.
 * (A rule's own retry, once, is not held to it.)
 */
function checkDeadline(route: UpstreamRoute, askedAt: number, rotatedAway: number): void {
  const { connectTimeoutMs } = route.timeouts;
  if (performance.now() - askedAt < connectTimeoutMs) return;
  throw new UpstreamError(
    'UPSTREAM_TIMEOUT',
    `the tunnel did not open within Upstream.ConnectTimeout (${connectTimeoutMs} ms): the port's session was replaced ${rotatedAway} times while it opened`,
  );
}
