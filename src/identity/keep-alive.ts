import type { Binding, PortState } from '../ports/port-state.js';
import { isLive } from '../session/session.js';

/** The last activity of a session that the keep-alive measures idleness from. */
export interface Activity {
  /** When a client last used the session, or a keep-alive request last went out (ms). */
  lastActive(binding: Binding): number;
  /** Sends one keep-alive request through the binding's route; resolves when it is over. */
  ping(state: PortState, binding: Binding): Promise<void>;
}

/**
 * Session.KeepAlive: a session idle this long gets one small request through its own route, so
 * that a provider which releases a sticky IP after a minute of silence keeps it. One timer per
 * session this instance uses; it stops when the session expires or rotates (the port no longer
 * holds the binding), and re-arms only once a request is over, so at most one is in flight.
 */
export class KeepAlive {
  constructor(
    private readonly everyMs: number,
    private readonly activity: Activity,
  ) {}

  /** Starts keeping `binding`'s session alive while the port holds it. */
  arm(state: PortState, binding: Binding): void {
    const tick = (): void => {
      if (!state.holds(binding) || !isLive(binding.session)) return;
      const idleFor = Date.now() - this.activity.lastActive(binding);
      if (idleFor < this.everyMs) {
        schedule(this.everyMs - idleFor);
        return;
      }
      this.activity.ping(state, binding).then(
        () => schedule(this.everyMs),
        () => schedule(this.everyMs),
      );
    };
    const schedule = (delayMs: number): void => {
      setTimeout(tick, Math.max(1, delayMs)).unref();
    };
    schedule(this.everyMs);
  }
}
