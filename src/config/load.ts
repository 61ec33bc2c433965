import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import convict from 'convict';
import { ConfigError } from '../errors.js';
import { parseUpstreamTemplate, type UpstreamTemplate } from '../upstream/upstream-url.js';
import { MINUTE_MS, SECOND_MS, isLoopbackHost, parseDuration } from './formats.js';
import { schema } from './schema.js';

export type StoreType = 'memory' | 'file' | 'redis';

/** The validated, frozen configuration the rest of stickyport reads. */
export interface StickyportConfig {
  readonly listen: {
    readonly host: string;
    readonly portStart: number;
    readonly portEnd: number;
    readonly idleTimeoutMs: number;
    readonly headersTimeoutMs: number;
    readonly maxConnectionsPerClient: number | 'auto';
    readonly maxConnectionsPerPort: number | 'auto';
    readonly allowPrivateTargets: boolean;
    readonly allowUnauthenticatedPublic: boolean;
  };
  readonly session: {
    /** 0 = sessions never expire on their own. */
    readonly lifetimeMs: number;
    readonly idLength: number;
    readonly idAlphabet: string;
  };
  readonly upstream: {
    /** undefined = no upstream: connect to targets directly. */
    readonly template: UpstreamTemplate | undefined;
    readonly connectTimeoutMs: number;
    readonly responseTimeoutMs: number;
    readonly poolIdleTimeoutMs: number;
  };
  readonly sessionApi: {
    readonly enabled: boolean;
    readonly domain: string;
    readonly password: string;
    readonly publicRead: boolean;
  };
  readonly store: {
    readonly type: StoreType;
    readonly path: string;
    readonly redisUrl: string;
    readonly keyPrefix: string;
  };
  readonly auth: {
    readonly required: boolean;
    readonly username: string;
    readonly password: string;
  };
  readonly logLevel: string;
  /** Where each layer came from, for the start-up log line. */
  readonly sources: readonly string[];
}

export interface LoadOptions {
  /** Folder holding appsettings.json and appsettings.<NODE_ENV>.json. */
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** The `--config PATH` file: applied last, it must exist. */
  readonly configPath?: string;
}

/**
 * Layers, later wins: schema defaults, appsettings.json, appsettings.<NODE_ENV>.json,
 * STICKYPORT_* environment variables, then the --config file. Any error names the key.
 */
export function loadConfig(options: LoadOptions = {}): StickyportConfig {
  const cwd = options.cwd ?? process.cwd();
  const env = options.env ?? process.env;
  // convict's own env handling would rank env above every file; we want --config to win.
  const settings = createSettings();
  const sources: string[] = ['defaults'];

  const layer = (file: string, required: boolean): void => {
    if (!existsSync(file)) {
      if (required) throw new ConfigError(`config file ${file} does not exist`, ['--config']);
      return;
    }
    settings.load(withoutSchemaReference(readJson(file)));
    sources.push(file);
  };

  layer(path.join(cwd, 'appsettings.json'), false);
  if (env.NODE_ENV) layer(path.join(cwd, `appsettings.${env.NODE_ENV}.json`), false);
  const fromEnv = environmentOverrides(schema, env);
  if (Object.keys(fromEnv).length > 0) {
    settings.load(fromEnv);
    sources.push('environment');
  }
  if (options.configPath) layer(path.resolve(cwd, options.configPath), true);

  try {
    settings.validate({ allowed: 'strict' });
  } catch (error) {
    const message = (error as Error).message;
    throw new ConfigError(`invalid configuration:\n${message}`, keysNamedIn(message));
  }
  return Object.freeze(toConfig(settings.getProperties(), sources));
}

function createSettings() {
  return convict(schema, { env: {}, args: [] });
}

type Settings = ReturnType<ReturnType<typeof createSettings>['getProperties']>;

function toConfig(raw: Settings, sources: string[]): StickyportConfig {
  const problems: Array<[string, string]> = [];
  const { Start, End } = raw.Listen.PortRange;
  if (Start < 1) problems.push(['Listen.PortRange.Start', `must be 1-65535: value was ${Start}`]);
  if (End < Start) {
    problems.push(['Listen.PortRange', `End (${End}) is below Start (${Start}): the range is reversed`]);
  }
  if (raw.Session.IdLength < 1 || raw.Session.IdLength > 64) {
    problems.push(['Session.IdLength', `must be 1-64: value was ${raw.Session.IdLength}`]);
  }
  if (!/^[a-zA-Z0-9.-]*$/.test(raw.SessionAPI.Domain)) {
    problems.push(['SessionAPI.Domain', `must be a host name or empty: value was ${JSON.stringify(raw.SessionAPI.Domain)}`]);
  }
  if (raw.Authentication.Required && (!raw.Authentication.Username || !raw.Authentication.Password)) {
    problems.push(['Authentication.Username', 'Authentication.Required needs both Username and Password set']);
  }
  if (!isLoopbackHost(raw.Listen.Host) && !raw.Authentication.Required && !raw.Listen.AllowUnauthenticatedPublic) {
    problems.push([
      'Listen.Host',
      `${raw.Listen.Host} is not a loopback address and Authentication.Required is false: ` +
        'that would be an open proxy. Turn Authentication.Required on, or set ' +
        'Listen.AllowUnauthenticatedPublic to true if this is really wanted',
    ]);
  }
  if (problems.length > 0) {
    throw new ConfigError(
      `invalid configuration:\n${problems.map(([key, text]) => `${key}: ${text}`).join('\n')}`,
      problems.map(([key]) => key),
    );
  }

  return {
    listen: {
      host: raw.Listen.Host,
      portStart: Start,
      portEnd: End,
      idleTimeoutMs: parseDuration(raw.Listen.IdleTimeout, SECOND_MS)!,
      headersTimeoutMs: 30_000,
      maxConnectionsPerClient: 'auto',
      maxConnectionsPerPort: 'auto',
      allowPrivateTargets: isLoopbackHost(raw.Listen.Host),
      allowUnauthenticatedPublic: raw.Listen.AllowUnauthenticatedPublic,
    },
    session: {
      lifetimeMs: parseDuration(raw.Listen.StickyProxyLifetime, MINUTE_MS)!,
      idLength: raw.Session.IdLength,
      idAlphabet: raw.Session.IdAlphabet,
    },
    upstream: {
      template: raw.Upstream.Url ? parseUpstreamTemplate(raw.Upstream.Url) : undefined,
      connectTimeoutMs: parseDuration(raw.Upstream.ConnectTimeout, SECOND_MS)!,
      responseTimeoutMs: parseDuration(raw.Upstream.ResponseTimeout, SECOND_MS)!,
      poolIdleTimeoutMs: 4_000,
    },
    sessionApi: {
      enabled: raw.SessionAPI.Enabled,
      domain: raw.SessionAPI.Domain.toLowerCase(),
      password: raw.SessionAPI.Password,
      publicRead: raw.SessionAPI.PublicRead,
    },
    store: {
      type: raw.SessionStore.Type as StoreType,
      path: raw.SessionStore.Path,
      redisUrl: raw.SessionStore.RedisUrl,
      keyPrefix: raw.SessionStore.KeyPrefix,
    },
    auth: {
      required: raw.Authentication.Required,
      username: raw.Authentication.Username,
      password: raw.Authentication.Password,
    },
    logLevel: raw.Logging.Level,
    sources,
  };
}

function readJson(file: string): object {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read config file ${file}: ${(error as Error).message}`, [file]);
  }
  try {
    return JSON.parse(text) as object;
  } catch (error) {
    throw new ConfigError(`config file ${file} is not valid JSON: ${(error as Error).message}`, [file]);
  }
}

/** `"$schema"` points editors at config/appsettings.schema.json; it is not a setting. */
function withoutSchemaReference(settings: object): object {
  if (!('$schema' in settings)) return settings;
  const { $schema: _reference, ...rest } = settings as Record<string, unknown>;
  return rest;
}

interface SchemaLeaf {
  env?: string;
  format: unknown;
}

/** Builds a nested settings object from the STICKYPORT_* variables the schema names. */
function environmentOverrides(node: object, env: NodeJS.ProcessEnv): Record<string, unknown> {
  const result: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(node)) {
    if (isLeaf(child)) {
      const value = child.env ? env[child.env] : undefined;
      if (value !== undefined) result[key] = value;
    } else {
      const nested = environmentOverrides(child as object, env);
      if (Object.keys(nested).length > 0) result[key] = nested;
    }
  }
  return result;
}

function isLeaf(node: unknown): node is SchemaLeaf {
  return typeof node === 'object' && node !== null && 'format' in node;
}

/** convict reports "Listen.Host: ..." and "configuration param 'X' not declared in the schema". */
function keysNamedIn(message: string): string[] {
  const keys = new Set<string>();
  for (const line of message.split('\n')) {
    const undeclared = /configuration param '([^']+)' not declared/.exec(line);
    const invalid = /^([A-Za-z][\w.]*): /.exec(line);
    const key = undeclared?.[1] ?? invalid?.[1];
    if (key) keys.add(key);
  }
  return [...keys];
}
