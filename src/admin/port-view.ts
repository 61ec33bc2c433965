import type { Mapping } from '../ports/mapping.js';
import type { Session } from '../session/session.js';
import { isoTime } from '../session/session.js';
import type { AdminContext } from './admin-context.js';

export interface SessionView {
  readonly id: string;
  readonly createdAt: string;
  /** null = never expires. */
  readonly expiresAt: string | null;
  /** The user name parameters the session renders (defaults applied); {} when its mapping declares none. */
  readonly parameters: Readonly<Record<string, string>>;
  /** The exit IP an echo URL last saw the session come from (Identity.EchoUrl), or null. */
  readonly exit: { readonly ip: string; readonly country: string | null; readonly seenAt: string } | null;
}

/** One port as the ports API and the status page show it. Times are ISO 8601; no secret. */
export interface PortView {
  readonly port: number;
  readonly mapping: string;
  readonly listening: boolean;
  readonly connections: number;
  /** The session in use on this instance, or null (none yet, reset, expired). */
  readonly session: SessionView | null;
  readonly requests: number;
  readonly bytesUp: number;
  readonly bytesDown: number;
  readonly errors: number;
  readonly errorsByCode: Readonly<Record<string, number>>;
  readonly openTunnels: number;
  readonly lastError: { readonly code: string; readonly message: string | null; readonly at: string } | null;
  readonly lastUse: string | null;
}

export function sessionView(session: Session | undefined, mapping: Mapping): SessionView | null {
  if (!session) return null;
  const { exit } = session;
  return {
    id: session.id,
    createdAt: isoTime(session.createdAt)!,
    expiresAt: isoTime(session.expiresAt),
    parameters: mapping.declared.size > 0 ? mapping.paramsOf(session) : {},
    exit: exit ? { ip: exit.ip, country: exit.country ?? null, seenAt: isoTime(exit.seenAt)! } : null,
  };
}

export function portView(context: AdminContext, port: number): PortView {
  const state = context.ports.peek(port);
  const counters = context.stats.get(port);
  const lastError = counters?.lastError;
  return {
    port,
    mapping: context.mappings.mappingOf(port),
    listening: context.listeners.isListening(port),
    connections: context.listeners.connectionCount(port),
    session: state ? sessionView(state.session, state.mapping) : null,
    requests: counters?.requests ?? 0,
    bytesUp: counters?.bytesUp ?? 0,
    bytesDown: counters?.bytesDown ?? 0,
    errors: counters?.errors ?? 0,
    errorsByCode: { ...counters?.errorsByCode },
    openTunnels: state?.openTunnels ?? 0,
    lastError: lastError ? { code: lastError.code, message: lastError.message ?? null, at: isoTime(lastError.at)! } : null,
    lastUse: counters?.lastUse ? isoTime(counters.lastUse) : null,
  };
}

/** Totals over every port, for the summary and the status page's header. */
export function summaryView(context: AdminContext) {
  const ports = context.mappings.ports();
  let listening = 0;
  let openTunnels = 0;
  let sessions = 0;
  for (const port of ports) {
    if (context.listeners.isListening(port)) listening++;
    const state = context.ports.peek(port);
    if (state) {
      openTunnels += state.openTunnels;
      if (state.session) sessions++;
    }
  }
  const store = context.storeHealth();
  return {
    version: context.version,
    now: new Date().toISOString(),
    startedAt: isoTime(context.startedAt),
    mappings: context.mappings.list().map((view) => ({
      ...view,
      ports: view.portEnd - view.portStart + 1,
    })),
    ports: { total: ports.length, listening },
    connections: context.listeners.connectionCount(),
    openTunnels,
    sessions,
    totals: { ...context.stats.totals },
    store: { kind: context.storeKind, state: store.state, outages: store.outages },
  };
}
