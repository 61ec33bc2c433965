import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'vitest';
import { loadConfig, type StickyportConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';

/** File content written byte for byte, for files that are not JSON.stringify's output. */
export class RawText {
  constructor(readonly text: string) {}
}

/** A temporary folder holding `files`: objects as JSON, RawText as it is. */
export function folderWith(files: Record<string, unknown>): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'stickyport-config-'));
  for (const [name, content] of Object.entries(files)) {
    writeFileSync(path.join(dir, name), content instanceof RawText ? content.text : JSON.stringify(content));
  }
  return dir;
}

export interface Layers {
  /** appsettings.json */
  readonly appsettings?: unknown;
  readonly env?: NodeJS.ProcessEnv;
  /** Written as override.json and given as --config override.json. */
  readonly config?: unknown;
}

export function load(layers: Layers): StickyportConfig {
  const files: Record<string, unknown> = {};
  if (layers.appsettings !== undefined) files['appsettings.json'] = layers.appsettings;
  if (layers.config !== undefined) files['override.json'] = layers.config;
  return loadConfig({
    cwd: folderWith(files),
    env: layers.env ?? {},
    configPath: layers.config === undefined ? undefined : 'override.json',
  });
}

/** The ConfigError `layers` are refused with; fails the test when they are accepted. */
export function refusal(layers: Layers): ConfigError {
  let accepted: StickyportConfig;
  try {
    accepted = load(layers);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error(`the configuration was accepted: ${JSON.stringify(accepted)}`);
}
