import { existsSync } from 'node:fs';
import path from 'node:path';
import convict from 'convict';
import { ConfigError } from '../errors.js';
import { parseUpstreamTemplate, type UpstreamTemplate } from '../upstream/upstream-url.js';
import { MINUTE_MS, SECOND_MS, isLoopbackHost, parseDuration } from './formats.js';
import { readSettingsFile } from './json-file.js';
import type { FlagValue } from './flags.js';
import { ConfigLayers, LEAVES, STRUCTURED, convictSchema, maskingOf, valueAt } from './layers.js';
import { resolveMappings, type MappingConfig } from './mappings.js';
import { configErrorFor, type ConfigProblem } from './problems.js';
import { identityProblems } from './rotation.js';
import { showValue } from './secrets.js';
import { inert } from '../logging/quoted.js';

export type { HostRuleConfig, MappingConfig } from './mappings.js';
export type { RotationRuleConfig } from './rotation.js';

export type StoreType = 'memory' | 'file' | 'redis';

/** The validated, frozen configuration the rest of stickyport reads. */
export interface StickyportConfig {
  readonly listen: {
    readonly host: string;
    readonly portStart: number;
    readonly portEnd: number;
    readonly idleTimeoutMs: number;
    readonly allowUnauthenticatedPublic: boolean;
    /** A request's headers must arrive within this, else 408 and close. */
    readonly headersTimeoutMs: number;
    /** Open connections one client address may hold across all ports; 0 = no limit. */
    readonly maxConnectionsPerClient: number | 'auto';
    /** Open connections one listening port may hold; 0 = no limit. */
    readonly maxConnectionsPerPort: number | 'auto';
    /** Whether direct connections may reach loopback, link-local and private addresses ("auto" resolved). */
    readonly allowPrivateTargets: boolean;
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
    /** Pooled upstream connections idle longer than this are closed. */
    readonly poolIdleTimeoutMs: number;
    /** An upstream of a pool refusing `refusals` connections within `withinMs` is skipped for `forMs`. */
    readonly cooldown: { readonly refusals: number; readonly withinMs: number; readonly forMs: number };
  };
  /**
   * The port mappings: `Mappings`, or the one mapping (`default`) the top-level Listen, Upstream
   * and Authentication keys describe. `listen`, `session.lifetimeMs`, `upstream.template` and
   * `auth` above are the top-level keys: with Mappings, only the defaults of each mapping.
   */
  readonly mappings: readonly MappingConfig[];
  readonly sessionApi: {
    readonly enabled: boolean;
    readonly domain: string;
    readonly password: string;
    readonly publicRead: boolean;
    /** Plain-HTTP answers carry X-Stickyport-Session-Id. */
    readonly exposeSessionHeader: boolean;
  };
  /** Exit identity checks and keep-alive requests; URLs are "" when off. */
  readonly identity: {
    readonly echoUrl: string;
    readonly checkOnCreate: boolean;
    /** 0 = never. */
    readonly checkEveryMs: number;
    readonly onDrift: 'log' | 'rotate';
    readonly timeoutMs: number;
    /** Session.KeepAlive; 0 = off. */
    readonly keepAliveMs: number;
    /** Session.KeepAliveUrl, or Identity.EchoUrl when it is empty. */
    readonly keepAliveUrl: string;
  };
  readonly rotation: {
    /** Rotation.BodyScanKiB in bytes: how much of an answer body BodyContains looks at. */
    readonly bodyScanBytes: number;
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
  readonly logging: {
    /** One info line per finished request or tunnel; 'errors' = failures only. */
    readonly requests: boolean | 'errors';
    /** Log a plain request's query string too. */
    readonly requestUrls: boolean;
  };
  /** The operators' HTTP server: status page, metrics, ports API, probes. */
  readonly admin: {
    readonly enabled: boolean;
    /** "auto" resolved: Listen.Host. */
    readonly host: string;
    /** "auto" resolved: the port just below the first port. */
    readonly port: number;
    /** Admin.Port was "auto" (a failure to bind it says where the port came from). */
    readonly portAuto: boolean;
    /** '' = none (allowed on loopback only). */
    readonly token: string;
  };
  readonly metrics: {
    /** Label per-request counters with the local port. */
    readonly perPortLabels: boolean;
  };
  /** Where each layer came from, for the start-up log line. */
  readonly sources: readonly string[];
  /** A reload's: start-up flags the files now make redundant (refused at start, said on a reload). */
  readonly redundantFlags?: readonly string[];
  /** Environment variables that set a top-level key every mapping sets for itself: they change nothing. */
  readonly inertEnvironment?: readonly string[];
}

export interface LoadOptions {
  /** Folder holding appsettings.json and appsettings.<NODE_ENV>.json. */
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** The `--config PATH` file: applied after the environment, it must exist. */
  readonly configPath?: string;
  /** Configuration flags from the command line (`--ports`, ...): the last layer. */
  readonly flags?: readonly FlagValue[];
  /**
   * A reload's: the `sources` of the running configuration. A settings file among them that is
   * gone now is refused, not skipped: skipped, its keys went back to the built-in defaults (no
   * upstream, no host rules) in a reload that said it applied, when a deploy replaced the file
   * by deleting and rewriting it.
   */
  readonly filesRead?: readonly string[];
  /**
   * A reload's: the session id rule in force. Session.IdLength and Session.IdAlphabet change only
   * with a restart, so upstreams (a preset's id limits, a SOCKS5 login's length) are checked
   * against the running rule, not the file's: checked against the file's, a reload put iproyal
   * in force with 12-character ids, which start-up refuses.
   */
  readonly sessionInForce?: { readonly idLength: number; readonly idAlphabet: string };
}

/** What `stickyport check` shows: the configuration, each key's value and origin, each layer. */
export interface ConfigReport {
  readonly config: StickyportConfig;
  /** Every key in schema order, its value as it may be shown (secrets masked) and its layer. */
  readonly values: ReadonlyArray<{ readonly key: string; readonly shown: string; readonly origin: string }>;
  /** Each layer in the order applied, with what it held (or that it was not there). */
  readonly layers: ReadonlyArray<{ readonly name: string; readonly detail: string }>;
}

/** The origin named for a Session id key a reload checked against: its value at start-up, in force until a restart. */
const IN_FORCE = 'the running process: Session.IdLength and Session.IdAlphabet change only with a restart';

/**
 * Layers, later wins: schema defaults, appsettings.json, appsettings.<NODE_ENV>.json,
 * STICKYPORT_* environment variables, the --config file, then command-line flags. All problems
 * are gathered into one ConfigError, each naming the key, its value (masked when secret) and
 * the layer it came from.
 */
export function loadConfig(options: LoadOptions = {}): StickyportConfig {
  return explainConfig(options).config;
}

/** What a reload loads: the same layers, the running configuration's files and session id rule. */
export function reloadLoader(options: LoadOptions): (running: StickyportConfig) => StickyportConfig {
  return (running) => loadConfig({ ...options, filesRead: running.sources, sessionInForce: running.session });
}

/** {@link loadConfig}, also saying where each value came from. */
export function explainConfig(options: LoadOptions = {}): ConfigReport {
  const cwd = options.cwd ?? process.cwd();
  const env = options.env ?? process.env;
  // convict's own env handling would rank env above every file; we want --config to win.
  const settings = createSettings();
  const layers = new ConfigLayers();
  const sources: string[] = ['defaults'];
  const report: Array<{ name: string; detail: string }> = [{ name: 'defaults', detail: 'built in' }];

  const layer = (file: string, origin: string, required: boolean): void => {
    if (!existsSync(file)) {
      if (required) throw new ConfigError(`config file ${inert(file)} does not exist (given as --config ${inert(options.configPath ?? '')})`, ['--config']);
      if (options.filesRead?.includes(file)) {
        throw new ConfigError(
          `config file ${inert(file)} is gone: the running configuration was read from it, and a reload without it would put the built-in defaults in place of its keys. Put it back, or restart to run without it`,
          [file],
        );
      }
      report.push({ name: file, detail: 'not found' });
      return;
    }
    settings.load(layers.accept(readSettingsFile(file), origin));
    sources.push(file);
    report.push({ name: origin, detail: origin === file ? 'read' : `read ${file}` });
  };

  const appsettings = path.join(cwd, 'appsettings.json');
  layer(appsettings, appsettings, false);
  if (env.NODE_ENV) {
    const staged = path.join(cwd, `appsettings.${env.NODE_ENV}.json`);
    layer(staged, staged, false);
  }
  const fromEnv = layers.fromEnvironment(env);
  const variables = [...LEAVES.values()].flatMap((leaf) => (leaf.env !== undefined && env[leaf.env] !== undefined ? [leaf.env] : []));
  report.push({ name: 'environment', detail: variables.length > 0 ? variables.join(', ') : 'no STICKYPORT_* variable it reads is set' });
  if (Object.keys(fromEnv).length > 0) {
    settings.load(fromEnv);
    sources.push('environment');
  }
  if (options.configPath) layer(path.resolve(cwd, options.configPath), `--config ${options.configPath}`, true);
  const flags = options.flags ?? [];
  const fromFlags = layers.fromFlags(flags);
  report.push({ name: 'flags', detail: flags.length > 0 ? [...new Set(flags.map((flag) => `--${flag.name}`))].join(', ') : 'none' });
  if (Object.keys(fromFlags).length > 0) {
    settings.load(fromFlags);
    sources.push('flags');
  }

  const raw = settings.getProperties();
  layers.checkValues(raw);
  // Rules across keys only make sense once each key holds a value of its own kind.
  let mappings: MappingConfig[] = [];
  let redundantFlags: string[] = [];
  let inertEnvironment: string[] = [];
  if (layers.problems.length === 0) {
    const inForce = options.sessionInForce;
    const checkedWith = inForce ? { ...raw, Session: { ...raw.Session, IdLength: inForce.idLength, IdAlphabet: inForce.idAlphabet } } : raw;
    const resolved = resolveMappings(checkedWith as unknown as Record<string, unknown>, layers, inForce !== undefined);
    mappings = resolved.mappings;
    redundantFlags = resolved.redundantFlags;
    inertEnvironment = resolved.inertEnvironment;
    // The value judged is the running one, not the file's: say so, or the message sends the
    // operator to a file that already holds what the check asks for.
    const named = inForce ? resolved.problems.map((problem) => (problem.key.startsWith('Session.Id') ? { ...problem, origin: IN_FORCE } : problem)) : resolved.problems;
    layers.problems.push(...named, ...identityProblems(raw as unknown as Record<string, unknown>, layers));
    if (resolved.problems.length === 0) layers.problems.push(...adminProblems(raw, layers, mappings));
  }
  if (layers.problems.length > 0) throw configErrorFor(layers.problems);
  // Our checks ran convict's formats already; this only catches a schema they do not cover.
  settings.validate({ allowed: 'strict' });
  const values = [...LEAVES.keys()].map((key) => ({
    key,
    shown: showValue(valueAt(raw, key), maskingOf(key)),
    origin: layers.originOf(key) ?? 'default',
  }));
  for (const key of STRUCTURED.keys()) values.push(...structuredRows(key, layers.structuredValue(key), layers.originOf(key) ?? 'default'));
  const config = toConfig(raw, sources, mappings);
  const said = { ...(redundantFlags.length > 0 ? { redundantFlags } : {}), ...(inertEnvironment.length > 0 ? { inertEnvironment } : {}) };
  return { config: Object.freeze({ ...config, ...said }), values, layers: report };
}

/** `stickyport check` rows for a list or object key: one per value inside it, secrets masked. */
function structuredRows(key: string, value: unknown, origin: string): Array<{ key: string; shown: string; origin: string }> {
  const rows: Array<{ key: string; shown: string; origin: string }> = [];
  const visit = (at: string, item: unknown): void => {
    if (Array.isArray(item) || (typeof item === 'object' && item !== null)) {
      const entries = Object.entries(item);
      if (entries.length === 0) rows.push({ key: at, shown: Array.isArray(item) ? '[]' : '{}', origin });
      for (const [name, child] of entries) visit(Array.isArray(item) ? `${at}[${name}]` : `${at}.${name}`, child);
      return;
    }
    rows.push({ key: at, shown: showValue(item, maskingOf(at)), origin });
  };
  visit(key, value);
  return rows;
}

function createSettings() {
  return convict(convictSchema() as unknown as typeof import('./schema.js').schema, { env: {}, args: [] });
}

type Settings = ReturnType<ReturnType<typeof createSettings>['getProperties']>;

/** The admin server: a port of its own outside every range, and a token wherever others can reach it. */
function adminProblems(raw: Settings, layers: ConfigLayers, mappings: readonly MappingConfig[]): ConfigProblem[] {
  const { Admin } = raw;
  if (!Admin.Enabled || mappings.length === 0) return [];
  const problems: ConfigProblem[] = [];
  const port = adminPort(raw, mappings);
  const [first] = mappings;
  if (Admin.Port === 'auto' && first!.portStart === 1) {
    problems.push(layers.problemAt('Admin.Port', `cannot be "auto" (the port below the first one) when the first mapping's ports start at 1: give a port`, Admin.Port));
  } else {
    const inside = mappings.find((mapping) => port >= mapping.portStart && port <= mapping.portEnd);
    if (inside) {
      problems.push(layers.problemAt('Admin.Port', `${port} is inside the ports ${inside.portStart}-${inside.portEnd} of mapping "${inside.name}": the admin server needs a port of its own`, Admin.Port));
    }
  }
  const host = adminHost(raw, mappings);
  if (!isLoopbackHost(host) && Admin.Token === '') {
    const where = Admin.Host === 'auto' ? `Admin.Host "auto", that is the first mapping's host ${host}` : `Admin.Host ${host}`;
    problems.push(layers.problemAt(
      'Admin.Token',
      `must be set: the admin server would listen on ${where}, which is not a loopback address. ` +
        'Set a token (clients send it as "Authorization: Bearer TOKEN"), or set Admin.Host to 127.0.0.1',
      Admin.Token,
    ));
  }
  return problems;
}

/** "auto": the first mapping's listen host, on the port just below its first port (10200 for 10201-10300). */
const adminHost = (raw: Settings, mappings: readonly MappingConfig[]): string =>
  raw.Admin.Host === 'auto' ? (mappings[0]?.host ?? raw.Listen.Host) : raw.Admin.Host;
const adminPort = (raw: Settings, mappings: readonly MappingConfig[]): number =>
  raw.Admin.Port === 'auto' ? (mappings[0]?.portStart ?? raw.Listen.PortRange.Start) - 1 : Number(raw.Admin.Port);

const connectionLimit = (value: number | string): number | 'auto' => (value === 'auto' ? 'auto' : Number(value));

function toConfig(raw: Settings, sources: string[], mappings: readonly MappingConfig[]): StickyportConfig {
  const allowPrivateTargets = raw.Listen.AllowPrivateTargets;
  return {
    listen: {
      host: raw.Listen.Host,
      portStart: raw.Listen.PortRange.Start,
      portEnd: raw.Listen.PortRange.End,
      idleTimeoutMs: parseDuration(raw.Listen.IdleTimeout, SECOND_MS)!,
      allowUnauthenticatedPublic: raw.Listen.AllowUnauthenticatedPublic,
      headersTimeoutMs: parseDuration(raw.Listen.HeadersTimeout, SECOND_MS)!,
      maxConnectionsPerClient: connectionLimit(raw.Listen.MaxConnectionsPerClient),
      maxConnectionsPerPort: connectionLimit(raw.Listen.MaxConnectionsPerPort),
      // Direct routes reaching 10.x or 127.x from a proxy others can use is an SSRF hole;
      // for a proxy only this machine reaches, those targets are usually the point.
      allowPrivateTargets: allowPrivateTargets === 'auto' ? isLoopbackHost(raw.Listen.Host) : allowPrivateTargets === true,
    },
    session: {
      lifetimeMs: parseDuration(raw.Listen.StickyProxyLifetime, MINUTE_MS)!,
      idLength: raw.Session.IdLength,
      idAlphabet: raw.Session.IdAlphabet,
    },
    upstream: {
      template: raw.Upstream.Url ? parseUpstreamTemplate(raw.Upstream.Url, 'any') : undefined,
      connectTimeoutMs: parseDuration(raw.Upstream.ConnectTimeout, SECOND_MS)!,
      responseTimeoutMs: parseDuration(raw.Upstream.ResponseTimeout, SECOND_MS)!,
      poolIdleTimeoutMs: parseDuration(raw.Upstream.PoolIdleTimeout, SECOND_MS)!,
      cooldown: {
        refusals: raw.Upstream.Cooldown.Refusals,
        withinMs: parseDuration(raw.Upstream.Cooldown.Within, SECOND_MS)!,
        forMs: parseDuration(raw.Upstream.Cooldown.For, SECOND_MS)!,
      },
    },
    mappings: Object.freeze(mappings.map((mapping) => Object.freeze(mapping))),
    sessionApi: {
      enabled: raw.SessionAPI.Enabled,
      // `portmapper.` names the same host as `portmapper`: the gateway takes both spellings.
      domain: raw.SessionAPI.Domain.toLowerCase().replace(/\.$/, ''),
      password: raw.SessionAPI.Password,
      publicRead: raw.SessionAPI.PublicRead,
      exposeSessionHeader: raw.SessionAPI.ExposeSessionHeader,
    },
    identity: {
      echoUrl: raw.Identity.EchoUrl,
      checkOnCreate: raw.Identity.CheckOnCreate,
      checkEveryMs: parseDuration(raw.Identity.CheckEvery, SECOND_MS)!,
      onDrift: raw.Identity.OnDrift as 'log' | 'rotate',
      timeoutMs: parseDuration(raw.Identity.Timeout, SECOND_MS)!,
      keepAliveMs: parseDuration(raw.Session.KeepAlive, SECOND_MS)!,
      keepAliveUrl: raw.Session.KeepAliveUrl || raw.Identity.EchoUrl,
    },
    rotation: { bodyScanBytes: raw.Rotation.BodyScanKiB * 1024 },
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
    logging: {
      requests: raw.Logging.Requests,
      requestUrls: raw.Logging.RequestUrls,
    },
    admin: {
      enabled: raw.Admin.Enabled,
      host: adminHost(raw, mappings),
      port: adminPort(raw, mappings),
      portAuto: raw.Admin.Port === 'auto',
      token: raw.Admin.Token,
    },
    metrics: { perPortLabels: raw.Metrics.PerPortLabels },
    sources,
  };
}
