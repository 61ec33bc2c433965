import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { createApp, type App } from '../../src/app.js';
import { loadConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/logging/logger.js';
import type { SessionStore } from '../../src/store/session-store.js';
import { freePortRange } from './ports.js';

export interface Settings {
  [section: string]: Record<string, unknown> | unknown[];
}

export interface RunningProxy {
  readonly app: App;
  readonly ports: number[];
  /** Every log line written so far, raw JSON text. */
  readonly logs: string[];
  stop(): Promise<void>;
}

/** A log sink that keeps pino's lines for assertions (e.g. no password ever logged). */
export function logSink(): { lines: string[]; stream: Writable } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      done();
    },
  });
  return { lines, stream };
}

/** Deep-merges `overrides` into a copy of `base`. */
export function merge(base: Settings, overrides: Settings = {}): Settings {
  const result: Settings = structuredClone(base);
  for (const [section, values] of Object.entries(overrides)) {
    // A list (Mappings, HostRules) replaces the base's, as a later configuration layer does.
    result[section] = Array.isArray(values) ? values : { ...((result[section] as Record<string, unknown>) ?? {}), ...values };
  }
  return result;
}

/** Writes `settings` to a temp appsettings.json and loads it through the real config loader. */
export function configFrom(settings: Settings) {
  const dir = mkdtempSync(path.join(tmpdir(), 'stickyport-test-'));
  writeFileSync(path.join(dir, 'appsettings.json'), JSON.stringify(settings));
  return loadConfig({ cwd: dir, env: {} });
}

/**
 * Starts stickyport in this process on a free range of `portCount` ports, with the session API
 * on and `overrides` applied on top.
 */
export async function startStickyport(
  overrides: Settings = {},
  options: { portCount?: number; store?: SessionStore; startPort?: number; tls?: import('node:tls').ConnectionOptions } = {},
): Promise<RunningProxy> {
  const count = options.portCount ?? 3;
  const start = options.startPort ?? (await freePortRange(count));
  const settings = merge(
    {
      Listen: { Host: '127.0.0.1', PortRange: { Start: start, End: start + count - 1 }, StickyProxyLifetime: 10 },
      SessionAPI: { Enabled: true, Domain: 'portmapper' },
      Logging: { Level: 'debug' },
    },
    overrides,
  );
  const config = configFrom(settings);
  const sink = logSink();
  const app = await createApp(config, { log: createLogger(config.logLevel, sink.stream), store: options.store, tls: options.tls });
  await app.start();
  return {
    app,
    ports: Array.from({ length: count }, (_, i) => start + i),
    logs: sink.lines,
    stop: () => app.stop(200),
  };
}

export function upstreamUrl(upstreamPort: number, password = 'secret'): string {
  return `http://customer-acme-session-{session}:${password}@127.0.0.1:${upstreamPort}`;
}
