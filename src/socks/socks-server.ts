import type net from 'node:net';
import { apiOffMessage, namesDomain } from '../api/api-gateway.js';
import type { LoginPolicy } from '../auth/client-auth.js';
import { StickyportError } from '../errors.js';
import type { Logger } from '../logging/logger.js';
import { observing, type Observe } from '../observe/request-record.js';
import { observeClientGone, observeRefusal, observeTunnel } from '../observe/tunnel-record.js';
import type { Ports } from '../ports/ports.js';
import { portOf } from '../proxy/listener-pool.js';
import { canonicalHost } from '../proxy/target-host.js';
import { tunnel } from '../proxy/tunnel.js';
import type { Drain } from '../proxy/drain.js';
import { openTunnelFor } from '../proxy/way-out.js';
import { SocksHandshake, type Login } from './socks-handshake.js';
import type { SocksApi } from './socks-api.js';
import { endWith, failureReply } from './socks-failures.js';
import { SOCKS4_SUCCEEDED, SOCKS5_SUCCEEDED, type Target } from './socks-protocol.js';
import { quoted } from '../logging/quoted.js';

export interface SocksServerOptions {
  readonly ports: Ports;
  /**
   * The client login of a port's mapping: when required, SOCKS5 clients must log in with it and
   * SOCKS4 clients are refused; when configured but not required, a SOCKS5 client offering a
   * login is asked for it.
   */
  readonly loginFor: (port: number) => LoginPolicy;
  /** Answers the session API inside a CONNECT to its host; undefined when the API is off. */
  readonly api: SocksApi | undefined;
  /** SessionAPI.Domain while the API is off: refused (0x02), never sent upstream (proxy-engine.ts). */
  readonly apiOffDomain?: string;
  readonly log: Logger;
  /** The HTTP side's drain: a tunnel still opening when a stop's drain time is over is refused, as an HTTP CONNECT is. */
  readonly drain: Drain;
  /** Listen.HeadersTimeout: the whole handshake must arrive within it. */
  readonly headersTimeoutMs: number;
  /** Listen.IdleTimeout: an open tunnel idle this long closes. */
  readonly idleTimeoutMs: number;
  /** Receives each finished tunnel (request log, statistics, metrics); absent = none. */
  readonly observe?: Observe;
}

/**
 * The SOCKS side of every port: a SOCKS5 or SOCKS4/4a CONNECT becomes a tunnel on the port's
 * session, opened, bound and relayed exactly as an HTTP CONNECT is (src/proxy/proxy-engine.ts),
 * so a rotation closes it, and a failure is answered with the SOCKS reply that names it.
 */
export class SocksServer {
  constructor(readonly options: SocksServerOptions) {}

  /** A connection whose first byte was 0x05 or 0x04. */
  accept(socket: net.Socket, first: Buffer): void {
    new SocksHandshake(this, socket, first);
  }

  /** Called by the handshake once it has a CONNECT request: `head` is what the client sent after it. */
  async connect(socket: net.Socket, version: 4 | 5, target: Target, head: Buffer, login: Login | undefined): Promise<void> {
    const port = portOf(socket);
    const { log, api, observe } = this.options;
    const observed = observing(observe);
    const startedAt = observed ? performance.now() : 0;
    const refused = (error: unknown, sessionId?: string): void => {
      // Gone before its tunnel opened: what failed then was answered to no one.
      const gone = socket.destroyed;
      this.fail(socket, version, port, error);
      if (!observed) return;
      if (gone) observeClientGone(connectRecord(port, version, target, startedAt, sessionId), observe);
      else observeRefusal(connectRecord(port, version, target, startedAt, sessionId), error, observe);
    };
    if (log.isLevelEnabled('debug')) log.debug({ port, method: 'CONNECT', protocol: `socks${version}`, host: authority(target) }, 'request');
    const { apiOffDomain } = this.options;
    if (apiOffDomain !== undefined && namesDomain(apiOffDomain, target.host)) {
      return refused(new StickyportError('TARGET_FORBIDDEN', apiOffMessage(apiOffDomain), { status: 403 }));
    }
    if (api?.isApiHost(target.host)) {
      if (target.port === 80) return api.accept(socket, head, login, version === 5 ? SOCKS5_SUCCEEDED : SOCKS4_SUCCEEDED);
      return refused(new StickyportError(
        'TARGET_FORBIDDEN',
        `the session API answers plain HTTP on port 80 only: CONNECT to ${target.host}:80, then GET /session/`,
        { status: 403 },
      ));
    }
    // The one spelling an HTTP CONNECT's host gets too (`127.1` is 127.0.0.1 to rules and guard).
    const host = canonicalHost(target.host);
    if (host === undefined) {
      return refused(new StickyportError('SOCKS_HANDSHAKE', `target name ${quoted(target.host.slice(0, 64))} is not a host name`, { status: 400 }));
    }
    let sessionId: string | undefined;
    try {
      const state = this.options.ports.get(port);
      const binding = await state.take(login?.params);
      sessionId = binding.session.id;
      // Host rules applied, bound to the session once open, exactly as an HTTP CONNECT is.
      const opened = await openTunnelFor(state, binding, socket, host, target.port, log, this.options.drain, login?.params);
      if (!opened) {
        if (observed) observeClientGone(connectRecord(port, version, target, startedAt, sessionId), observe);
        return;
      }
      const reply = version === 5 ? SOCKS5_SUCCEEDED : SOCKS4_SUCCEEDED;
      if (observed) {
        const start = { port, kind: `socks${version}` as const, host: authority(target), sessionId: state.session?.id ?? sessionId, startedAt, openedAt: performance.now() };
        observeTunnel(socket, head, reply.length, start, observe);
      }
      await tunnel(socket, head, opened, this.options.idleTimeoutMs, reply);
    } catch (error) {
      refused(error, sessionId);
    }
  }

  /** Logs a failure as an HTTP CONNECT failure is logged, answers its SOCKS reply and closes. */
  private fail(socket: net.Socket, version: 4 | 5, port: number, error: unknown): void {
    const reply = failureReply(version, error);
    if (error instanceof StickyportError) {
      this.options.log.warn({ port, code: error.code, status: error.status, socks: version, reply: reply[1] }, error.message);
    } else {
      this.options.log.error({ err: error, port }, 'BUG: unexpected error in a SOCKS path');
    }
    endWith(socket, reply);
  }
}

function authority(target: Target): string {
  return `${target.host.includes(':') ? `[${target.host}]` : target.host}:${target.port}`;
}

/** A SOCKS CONNECT that got no tunnel, as the request log records it (built only when one is written). */
function connectRecord(port: number, version: 4 | 5, target: Target, startedAt: number, sessionId: string | undefined) {
  return { port, kind: `socks${version}` as const, method: 'CONNECT', host: authority(target), startedAt, sessionId };
}
