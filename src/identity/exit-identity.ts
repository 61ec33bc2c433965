import type tls from 'node:tls';
import type { StickyportConfig } from '../config/load.js';
import { StickyportError } from '../errors.js';
import type { Logger } from '../logging/logger.js';
import type { Binding, PortState } from '../ports/port-state.js';
import type { SessionService } from '../session/session-service.js';
import { withExit, type Session } from '../session/session.js';
import { parseEchoAnswer } from './echo-answer.js';
import { fetchThrough } from './echo-fetch.js';
import type { CheckReason, IdentityEvents } from './identity-events.js';
import { KeepAlive } from './keep-alive.js';
import { upstreamStatusFailure } from '../upstream/upstream-errors.js';

// An echo answer is an address or a small JSON object; ipinfo.io's is about 300 bytes.
const ECHO_MAX_BYTES = 16 * 1024;
// A keep-alive request to any page reads this much, then stops: traffic enough to count.
const KEEP_ALIVE_MAX_BYTES = 64 * 1024;

export interface ExitIdentityDeps {
  readonly sessions: SessionService;
  readonly events: IdentityEvents;
  readonly log: Logger;
  /** Extra TLS options for https:// echo URLs (tests trust their own CA). */
  readonly tls?: tls.ConnectionOptions;
}

/** What this instance knows of a session it uses. */
interface Watch {
  /** When a client last used it (ms). */
  usedAt: number;
  /** When a keep-alive request last went out (ms). */
  pingedAt: number;
  /** When the exit was last asked for (ms); from the store when the session was already checked. */
  checkedAt: number;
  checking: Promise<Session> | undefined;
}

/**
 * Each port's exit identity: the echo URL asked through the session's own route (on demand,
 * when a session is first used with Identity.CheckOnCreate, and every Identity.CheckEvery while
 * it is used), the answer kept with the session in the store, logged once per change, and a
 * drift (the same id, another IP) logged as a warning, counted and, with OnDrift rotate, ended
 * by a new session. Also the keep-alive of idle sessions (Session.KeepAlive).
 */
export class ExitIdentity {
  private readonly watches = new WeakMap<Binding, Watch>();
  private readonly echoUrl: URL | undefined;
  private readonly keepAliveUrl: URL | undefined;
  private readonly keepAlive: KeepAlive | undefined;

  constructor(
    private readonly options: StickyportConfig['identity'],
    private readonly deps: ExitIdentityDeps,
  ) {
    this.echoUrl = options.echoUrl ? new URL(options.echoUrl) : undefined;
    this.keepAliveUrl = options.keepAliveUrl ? new URL(options.keepAliveUrl) : undefined;
    this.keepAlive =
      options.keepAliveMs > 0 && this.keepAliveUrl
        ? new KeepAlive(options.keepAliveMs, {
            lastActive: (binding) => {
              const watch = this.watchOf(binding);
              return Math.max(watch.usedAt, watch.pingedAt);
            },
            ping: (state, binding) => this.ping(state, binding),
          })
        : undefined;
  }

  /** True when anything here needs to hear of sessions and their use. */
  get active(): boolean {
    return this.keepAlive !== undefined || (this.echoUrl !== undefined && (this.options.checkOnCreate || this.options.checkEveryMs > 0));
  }

  /** Whether an echo URL is configured: `/session/?ip=1` can be answered. */
  get canCheck(): boolean {
    return this.echoUrl !== undefined;
  }

  /** The port started using a session (created, or read from the store). */
  installed(state: PortState, binding: Binding): void {
    this.watchOf(binding);
    if (this.echoUrl && this.options.checkOnCreate) this.check(state, binding, 'create').catch(() => undefined);
    this.keepAlive?.arm(state, binding);
  }

  /** A client request goes out on `binding` now. */
  used(state: PortState, binding: Binding): void {
    const watch = this.watchOf(binding);
    const now = Date.now();
    watch.usedAt = now;
    const every = this.options.checkEveryMs;
    if (every > 0 && this.echoUrl && !watch.checking && now - watch.checkedAt >= every) {
      this.check(state, binding, 'periodic').catch(() => undefined);
    }
  }

  /**
   * Asks the echo URL for `binding`'s exit now (joining a check already on its way) and keeps
   * the answer with the session. Resolves with the session as amended; rejects with an
   * IDENTITY_UNAVAILABLE error when no IP could be learnt.
   */
  check(state: PortState, binding: Binding, reason: CheckReason): Promise<Session> {
    const watch = this.watchOf(binding);
    if (watch.checking) return watch.checking;
    watch.checkedAt = Date.now();
    const run = this.ask(state, binding, reason).finally(() => {
      watch.checking = undefined;
    });
    watch.checking = run;
    return run;
  }

  private async ask(state: PortState, binding: Binding, reason: CheckReason): Promise<Session> {
    const { port } = state;
    const sessionId = binding.session.id;
    const url = this.echoUrl!;
    try {
      const fetched = await fetchThrough(binding.route, url, {
        timeoutMs: this.options.timeoutMs,
        maxBytes: ECHO_MAX_BYTES,
        bindTunnel: (socket) => state.bindTunnel(binding, socket),
        stillCarries: () => state.carries(binding),
        tls: this.deps.tls,
      });
      if (fetched.status < 200 || fetched.status > 299) {
        // A 407 is the upstream proxy's, not the echo service's: named as on the proxy path.
        if (fetched.status === 407 && binding.route.viaHttpProxy) {
          const peer = binding.route.describePeer({ hostname: url.hostname, port: Number(url.port || (url.protocol === 'https:' ? 443 : 80)) });
          throw unavailable(upstreamStatusFailure(407, peer).message);
        }
        throw unavailable(`${url.host} answered ${fetched.status}`);
      }
      const echoed = parseEchoAnswer(fetched.body);
      if ('problem' in echoed) throw unavailable(`${url.host} ${echoed.problem}`);
      const stored = await this.deps.sessions.peek(port);
      if (!state.holds(binding) || stored?.id !== sessionId) throw unavailable('the session rotated while its exit IP was asked for: ask again');
      this.deps.events.emit({ type: 'identity-check', port, sessionId, reason, ok: true, ip: echoed.ip });
      const previous = stored.exit ?? binding.session.exit;
      const exit = { ip: echoed.ip, country: echoed.country, seenAt: Date.now() };
      if (previous && previous.ip !== exit.ip) {
        if (await this.drifted(state, stored, previous.ip, exit.ip)) return (await state.current()).session;
      }
      if (previous?.ip !== exit.ip || previous.country !== exit.country) {
        this.deps.log.info({ port, sessionId, ip: exit.ip, country: exit.country, previous: previous?.ip, reason }, 'exit identity');
        this.deps.events.emit({ type: 'exit-seen', port, sessionId, ip: exit.ip, country: exit.country, previous: previous?.ip });
      }
      const amended = (await this.deps.sessions.amend(withExit(stored, exit))) ?? withExit(stored, exit);
      state.amended(amended);
      return amended;
    } catch (cause) {
      const error = cause instanceof StickyportError && cause.code === 'IDENTITY_UNAVAILABLE' ? cause : unavailable(`${url.host} could not be asked: ${(cause as Error).message}`, cause);
      if (!/rotated while/.test(error.message)) {
        this.deps.events.emit({ type: 'identity-check', port, sessionId, reason, ok: false, error: error.message });
        this.deps.log.warn({ port, sessionId, reason, code: error.code }, `exit identity check failed: ${error.message}`);
      }
      throw error;
    }
  }

  /** The same session answered from another IP: logged, counted, and with OnDrift rotate, replaced. True when rotated. */
  private async drifted(state: PortState, session: Session, from: string, to: string): Promise<boolean> {
    const action = this.options.onDrift;
    const { port } = state;
    this.deps.log.warn({ port, sessionId: session.id, from, to, action }, 'exit drift: the session answers from another IP');
    this.deps.events.emit({ type: 'drift', port, sessionId: session.id, from, to, action });
    if (action !== 'rotate') return false;
    // Only the drifted session: one another rotation already replaced (the API's) stays replaced once.
    const renewed = await state.renewFrom(session.id);
    if (renewed) this.deps.log.info({ port, sessionId: renewed.id, previousId: session.id, reason: 'exit drift' }, 'session replaced');
    return true;
  }

  /** One keep-alive request: to the echo URL it is also an identity check. */
  private async ping(state: PortState, binding: Binding): Promise<void> {
    const watch = this.watchOf(binding);
    watch.pingedAt = Date.now();
    const { port } = state;
    const sessionId = binding.session.id;
    try {
      if (this.keepAliveUrl!.href === this.echoUrl?.href) {
        await this.check(state, binding, 'keep-alive');
      } else {
        await fetchThrough(binding.route, this.keepAliveUrl!, {
          timeoutMs: this.options.timeoutMs,
          maxBytes: KEEP_ALIVE_MAX_BYTES,
          cut: true,
          bindTunnel: (socket) => state.bindTunnel(binding, socket),
          stillCarries: () => state.carries(binding),
          tls: this.deps.tls,
        });
      }
      this.deps.events.emit({ type: 'keep-alive', port, sessionId, ok: true });
      this.deps.log.debug({ port, sessionId }, 'keep-alive request sent');
    } catch (error) {
      this.deps.events.emit({ type: 'keep-alive', port, sessionId, ok: false, error: (error as Error).message });
      this.deps.log.info({ port, sessionId }, `keep-alive request failed: ${(error as Error).message}`);
    } finally {
      watch.pingedAt = Date.now();
    }
  }

  private watchOf(binding: Binding): Watch {
    let watch = this.watches.get(binding);
    if (!watch) {
      const now = Date.now();
      // A stored seenAt ahead of our clock (another instance's clock, a hand-edited file) must
      // not count as a check still to come: CheckEvery would never find it old enough.
      watch = { usedAt: 0, pingedAt: now, checkedAt: Math.min(binding.session.exit?.seenAt ?? 0, now), checking: undefined };
      this.watches.set(binding, watch);
    }
    return watch;
  }
}

function unavailable(message: string, cause?: unknown): StickyportError {
  return new StickyportError('IDENTITY_UNAVAILABLE', message, { status: 502, cause });
}
