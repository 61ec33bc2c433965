/**
 * What the exit identity checks, the keep-alive pings and the rotation rules did, as plain
 * counters and one hook. The metrics (Prometheus, the status page) subscribe with `on`; tests
 * wait on it instead of sleeping. Emitting never throws: a listener's error is its own.
 */
export type IdentityEvent =
  /** An echo URL was asked for a session's exit IP (`reason`: who asked). */
  | { readonly type: 'identity-check'; readonly port: number; readonly sessionId: string; readonly reason: CheckReason; readonly ok: boolean; readonly ip?: string; readonly error?: string }
  /** A session's exit IP became known, or changed (`previous`: the IP before, for a drift). */
  | { readonly type: 'exit-seen'; readonly port: number; readonly sessionId: string; readonly ip: string; readonly country?: string; readonly previous?: string }
  /** The same session id answered from another exit IP. */
  | { readonly type: 'drift'; readonly port: number; readonly sessionId: string; readonly from: string; readonly to: string; readonly action: 'log' | 'rotate' }
  /** A keep-alive request went out through an idle session's route. */
  | { readonly type: 'keep-alive'; readonly port: number; readonly sessionId: string; readonly ok: boolean; readonly error?: string }
  /** A rotation rule replaced a port's session. */
  | { readonly type: 'rule-rotation'; readonly port: number; readonly rule: string; readonly previousId: string; readonly trigger: string; readonly retried: boolean }
  /** A plain-HTTP request went out once more on the port's new session (rotate-and-retry). */
  | { readonly type: 'rule-retry'; readonly port: number; readonly rule: string };

export type CheckReason = 'api' | 'create' | 'periodic' | 'keep-alive';

export type IdentityEventListener = (event: IdentityEvent) => void;

export interface IdentityCounts {
  identityChecks: number;
  identityCheckFailures: number;
  drifts: number;
  keepAlivePings: number;
  keepAliveFailures: number;
  ruleRetries: number;
  /** Rotations by rule, by the rule's name. */
  readonly ruleRotations: Map<string, number>;
}

export class IdentityEvents {
  readonly counts: IdentityCounts = {
    identityChecks: 0,
    identityCheckFailures: 0,
    drifts: 0,
    keepAlivePings: 0,
    keepAliveFailures: 0,
    ruleRetries: 0,
    ruleRotations: new Map(),
  };
  private listeners: IdentityEventListener[] = [];

  /** Calls `listener` with every later event; the function returned unsubscribes. */
  on(listener: IdentityEventListener): () => void {
    this.listeners = [...this.listeners, listener];
    return () => {
      this.listeners = this.listeners.filter((other) => other !== listener);
    };
  }

  emit(event: IdentityEvent): void {
    this.count(event);
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch {
        // A subscriber's failure must not break the request path that emitted.
      }
    }
  }

  private count(event: IdentityEvent): void {
    const { counts } = this;
    switch (event.type) {
      case 'identity-check':
        counts.identityChecks++;
        if (!event.ok) counts.identityCheckFailures++;
        break;
      case 'drift':
        counts.drifts++;
        break;
      case 'keep-alive':
        counts.keepAlivePings++;
        if (!event.ok) counts.keepAliveFailures++;
        break;
      case 'rule-rotation':
        counts.ruleRotations.set(event.rule, (counts.ruleRotations.get(event.rule) ?? 0) + 1);
        break;
      case 'rule-retry':
        counts.ruleRetries++;
        break;
      case 'exit-seen':
        break;
    }
  }
}
