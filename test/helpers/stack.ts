import { startOrigin, type Origin } from './origin.js';
import { startRecordingUpstream, type RecordingUpstream } from './recording-upstream.js';
import { startStickyport, upstreamUrl, type RunningProxy, type Settings } from './stickyport.js';

/** The usual test stack: an origin, a recording upstream, and stickyport chained to it. */
export interface Stack {
  readonly origin: Origin;
  readonly upstream: RecordingUpstream;
  readonly proxy: RunningProxy;
  stop(): Promise<void>;
}

/** `overrides` may be a function of the recording upstream's port (an upstream URL of its own). */
export async function startStack(
  overrides: Settings | ((upstreamPort: number) => Settings) = {},
  options: Parameters<typeof startStickyport>[1] = {},
): Promise<Stack> {
  const origin = await startOrigin();
  const upstream = await startRecordingUpstream();
  const given = typeof overrides === 'function' ? overrides(upstream.port) : overrides;
  const settings = { ...given, Upstream: { Url: upstreamUrl(upstream.port), ...given.Upstream } };
  const proxy = await startStickyport(settings, options);
  return {
    origin,
    upstream,
    proxy,
    async stop() {
      await proxy.stop();
      await upstream.close();
      await origin.close();
    },
  };
}

/** The stack with an upstream login that carries a `{country}` parameter (default "us") beside the session. */
export function startCountryStack(portCount: number): Promise<Stack> {
  return startStack(
    (port) => ({
      Upstream: { Url: `http://customer-acme-country-{country}-session-{session}:secret@127.0.0.1:${port}`, Parameters: { country: 'us' } },
      Logging: { Level: 'warn' },
    }),
    { portCount },
  );
}
