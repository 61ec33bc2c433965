import { afterAll, beforeAll } from 'vitest';
import { startRecordingUpstream, type RecordingUpstream } from './recording-upstream.js';
import { startSocksUpstream, type SocksUpstream } from './socks-upstream.js';
import { startStickyport, upstreamUrl, type RunningProxy } from './stickyport.js';

/** The three routes a port can take: no upstream, an HTTP upstream, a SOCKS5 upstream. */
export const ROUTES = ['direct', 'HTTP upstream', 'SOCKS5 upstream'] as const;
export type RouteName = (typeof ROUTES)[number];

export interface EveryRoute {
  /** One single-port stickyport per route. */
  readonly proxies: Record<RouteName, RunningProxy>;
  readonly upstream: RecordingUpstream;
  readonly socks: SocksUpstream;
}

/**
 * For the enclosing describe block (or file): a recording HTTP upstream, a SOCKS5 upstream, and
 * one stickyport per route, started in beforeAll and stopped in afterAll.
 */
export function everyRoute(): EveryRoute {
  const state = {} as { proxies: Record<RouteName, RunningProxy>; upstream: RecordingUpstream; socks: SocksUpstream };
  beforeAll(async () => {
    state.upstream = await startRecordingUpstream();
    state.socks = await startSocksUpstream('secret');
    state.proxies = {
      direct: await startStickyport({}, { portCount: 1 }),
      'HTTP upstream': await startStickyport({ Upstream: { Url: upstreamUrl(state.upstream.port) } }, { portCount: 1 }),
      'SOCKS5 upstream': await startStickyport(
        { Upstream: { Url: `socks5h://customer-acme-session-{session}:secret@127.0.0.1:${state.socks.port}` } },
        { portCount: 1 },
      ),
    };
  });
  afterAll(async () => {
    await Promise.all(Object.values(state.proxies ?? {}).map((proxy) => proxy.stop()));
    await Promise.all([state.upstream?.close(), state.socks?.close()]);
  });
  return {
    get proxies() {
      return state.proxies;
    },
    get upstream() {
      return state.upstream;
    },
    get socks() {
      return state.socks;
    },
  };
}
