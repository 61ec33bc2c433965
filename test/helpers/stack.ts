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

export async function startStack(
  overrides: Settings = {},
  options: Parameters<typeof startStickyport>[1] = {},
): Promise<Stack> {
  const origin = await startOrigin();
  const upstream = await startRecordingUpstream();
  const settings = { ...overrides, Upstream: { Url: upstreamUrl(upstream.port), ...overrides.Upstream } };
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
