import { showValue } from './secrets.js';
import { ruleAction } from './value-formats.js';

/**
 * ProxyMapService's (PMS) names for what stickyport names differently or does without, each
 * with what to write instead (README: Coming from ProxyMapService). stickyport's keys follow
 * PMS's where they mean the same, so a PMS user's appsettings.json is mostly right; for the rest,
 * a bare "unknown key" (or a "did you mean" pointing elsewhere) would leave the user to find the
 * README's table: this one answers each where it stands, all in one round, still refusing it.
 *
 * A name is written as it stands at the top level, where stickyport's Listen, Authentication,
 * Upstream and HostRules are every mapping's defaults, so the mapping keys among them are
 * answered in `Mappings[i]` (and in PMS's `ProxyMappings[i]`) as well; `HostRules[].` names a host
 * rule's key, global or a mapping's, in a list or in PMS's `HostRules.Items`.
 */
const NO_DECRYPTION = 'is not supported: stickyport never decrypts tunnels';
const NO_CACHE = 'is not supported: stickyport caches nothing';
const WEB_SERVER = "belongs to its web server; stickyport's admin server is set with Admin.*: drop it";
const ADMIN_SERVER = 'is the admin server here: Admin.Enabled (status page, /metrics, /api/ports)';
const API_LOGIN = "guards its own API; the admin server's API takes Admin.Token here (a bearer token)";
const NO_SERVER_FILES = "is not supported: list the servers' URLs in Upstream.Urls";
const NO_RULE_FILES = 'is not supported: put the rules in HostRules';
const NO_LOG_OUTPUTS = 'is not supported: stickyport logs JSON lines to stdout';
const FILE_ACTION = "ProxyMapService's File action (files from RootDir) is not supported";

/** What follows "ProxyMapService's NAME", or the whole answer as the value makes it. */
type Answer = string | ((value: unknown) => string);

interface PmsName {
  readonly answer: Answer;
  /** A key of PMS's own top level only, never a mapping's. */
  readonly topOnly?: boolean;
  /** Its value is shown: an action, never a secret. */
  readonly showsValue?: boolean;
}

const PMS_NAMES: ReadonlyMap<string, PmsName> = new Map<string, PmsName>([
  ['ProxyMappings', { answer: 'is Mappings here (README: Coming from ProxyMapService)', topOnly: true }],
  ['HostRulesFiles', { answer: NO_RULE_FILES, topOnly: true }],
  ['HostRules.Files', { answer: NO_RULE_FILES }],
  ['Logging.LogLevel', { answer: 'is Logging.Level here: fatal, error, warn, info, debug, trace or silent (Information is info)', topOnly: true }],
  ['Logging.Console', { answer: NO_LOG_OUTPUTS, topOnly: true }],
  ['Logging.WebSocket', { answer: NO_LOG_OUTPUTS, topOnly: true }],
  ['DetailedLogging', { answer: 'is not supported; Logging.Requests logs one line per request or tunnel', topOnly: true }],
  ['AllowedHosts', { answer: WEB_SERVER, topOnly: true }],
  ['CorsSettings', { answer: WEB_SERVER, topOnly: true }],
  ['Routing', { answer: WEB_SERVER, topOnly: true }],
  ['Security', { answer: WEB_SERVER, topOnly: true }],
  ['Authentication.Jwt', { answer: API_LOGIN, topOnly: true }],
  ['Authentication.DevToken', { answer: API_LOGIN, topOnly: true }],
  ['HostStats', { answer: ADMIN_SERVER, topOnly: true }],
  ['Dashboard', { answer: ADMIN_SERVER, topOnly: true }],
  ['WebSocketMonitoring', { answer: ADMIN_SERVER, topOnly: true }],
  ['HTTP', { answer: '(the User-Agent of its CONNECT requests) is not supported: drop it', topOnly: true }],
  ['SslClientOptions', { answer: NO_DECRYPTION, topOnly: true }],
  ['SslServerOptions', { answer: NO_DECRYPTION, topOnly: true }],
  ['Cache', { answer: NO_CACHE, topOnly: true }],
  // A mapping's keys.
  ['ProxyServers', { answer: 'is Upstream.Urls here: ["http://USER:PASS@HOST:PORT", ...] (socks4a:// for Socks4, socks5h:// for Socks5); one server: Upstream.Url' }],
  ['ProxyServers.Files', { answer: NO_SERVER_FILES }],
  ['ProxyServersFiles', { answer: NO_SERVER_FILES }],
  ['CacheRules', { answer: NO_CACHE }],
  ['Listen.Ssl', { answer: 'is not supported: stickyport listens in plain TCP; put a TLS terminator in front if clients need TLS' }],
  ['Listen.DecryptSSL', { answer: NO_DECRYPTION }],
  ['Listen.SslMode', { answer: NO_DECRYPTION }],
  ['Listen.UpstreamSslMode', { answer: NO_DECRYPTION }],
  ['Listen.Action', { answer: listenAction, showsValue: true }],
  ['Listen.IgnoreHostRules', { answer: "is not supported: a mapping's own HostRules come before the global ones, so a first own rule { \"Pattern\": \"*\", \"Action\": \"Allow\" } skips them" }],
  ['Authentication.Verify', { answer: 'is not needed: a required login is always verified here (407 otherwise)' }],
  ['Authentication.SetAuthentication', { answer: 'is not needed: always so here; the upstream login comes from the upstream URL or preset' }],
  ['Authentication.RemoveAuthentication', { answer: "is not needed: always so here; the client's Proxy-Authorization never goes upstream" }],
  [
    'Authentication.UsernameParameters',
    { answer: 'is Upstream.Parameters here: { "name": "default" }, with {name} in the upstream URL; SessionId and SessionTime are {session} and {lifetime}' },
  ],
  // A host rule's keys.
  ['HostRules[].HostName', { answer: 'is Pattern here, with the plain name' }],
  ['HostRules[].HostPort', { answer: 'is not supported: rules match host names only' }],
  ['HostRules[].OverrideHostName', { answer: 'is OverrideHost here' }],
  ['HostRules[].OverrideHostPort', { answer: 'is OverridePort here' }],
  ['HostRules[].ProxyServer', { answer: 'is Upstream here: { "Url": "http://USER:PASS@HOST:PORT" }, or Urls, or a Preset' }],
  ['HostRules[].DecryptSSL', { answer: NO_DECRYPTION }],
  ['HostRules[].SslMode', { answer: NO_DECRYPTION }],
  ['HostRules[].UpstreamSslMode', { answer: NO_DECRYPTION }],
  ['HostRules[].CertificatePath', { answer: NO_DECRYPTION }],
  ['HostRules[].CertificatePassword', { answer: NO_DECRYPTION }],
  ['HostRules[].RootDir', { answer: 'serves its File action, which is not supported' }],
  ['HostRules[].CacheRules', { answer: NO_CACHE }],
]);

/** PMS's Listen.Action: what a port does with a host no rule matches. */
function listenAction(value: unknown): string {
  if (value === 'Allow') return "ProxyMapService's Listen.Action is not needed for Allow: a host no rule matches goes through the port's session here; drop it";
  if (value === 'File') return FILE_ACTION;
  const action = value === 'Deny' || value === 'Bypass' ? `"${value}"` : '"Deny" or "Bypass"';
  return `ProxyMapService's Listen.Action is a host rule here, last in HostRules: { "Pattern": "*", "Action": ${action} }`;
}

/** A problem of a PMS key, for the caller to add the layer it came from. */
export interface PmsProblem {
  readonly key: string;
  readonly text: string;
  readonly shown?: string;
}

/**
 * `Mappings[1].HostRules[0].HostName` and `ProxyMappings[0].HostRules.Items[0].HostName` as
 * `HostRules[].HostName`; `Mappings[0].Listen.Ssl` as `Listen.Ssl`, not at the top level.
 */
function pmsNameOf(key: string): { readonly name: string; readonly top: boolean } {
  const mapping = /^(?:Mappings|ProxyMappings)\[\d+\]\./.exec(key);
  const rest = mapping ? key.slice(mapping[0].length) : key;
  return { name: rest.replace(/^HostRules(?:\.Items)?\[\d+\]\./, 'HostRules[].'), top: !mapping };
}

/** The problem of `key` holding `value` if it is a PMS name, with its unknown-key text. */
function answerFor(key: string, value: unknown): PmsProblem | undefined {
  const { name, top } = pmsNameOf(key);
  const entry = PMS_NAMES.get(name);
  if (entry === undefined || (entry.topOnly && !top)) {
    // A key both name alike, holding what only PMS takes, inside a PMS list (`HostRules.Items`).
    const hint = name === 'HostRules[].Action' ? pmsValueHint(key, value) : undefined;
    return hint === undefined ? undefined : { key, text: `${ruleAction.problem(value)}; ${hint}`, shown: showValue(value, 'none') };
  }
  const answer = typeof entry.answer === 'string' ? `ProxyMapService's ${name} ${entry.answer}` : entry.answer(value);
  return { key, text: `unknown key; ${answer}`, ...(entry.showsValue ? { shown: showValue(value, 'none') } : {}) };
}

/** How deep PMS names are looked for inside a PMS key's value: `ProxyMappings[0].ProxyServers.Files`. */
const DEPTH = 4;

/** The PMS names inside `value` (the value of `key`), deepest last, never `key` itself. */
export function pmsNamesInside(key: string, value: unknown, depth = DEPTH): PmsProblem[] {
  if (depth === 0 || typeof value !== 'object' || value === null) return [];
  const found: PmsProblem[] = [];
  for (const [name, item] of Object.entries(value)) {
    const at = Array.isArray(value) ? `${key}[${name}]` : `${key}.${name}`;
    const answer = answerFor(at, item);
    if (answer) found.push(answer);
    found.push(...pmsNamesInside(at, item, depth - 1));
  }
  return found;
}

/**
 * An unknown key's problems when it is a PMS name: its own answer, then those of the PMS names
 * its value holds (all of ProxyMappings' at once). Empty when it is not one.
 */
export function pmsUnknownKey(key: string, value: unknown): PmsProblem[] {
  const answer = answerFor(key, value);
  return answer ? [answer, ...pmsNamesInside(key, value)] : [];
}

/**
 * What to add to the problem of a key both name alike whose value is PMS's: a host rule's File
 * action; HostRules written as PMS's `{ "Items": [...], "Files": [...] }`.
 */
export function pmsValueHint(key: string, value: unknown): string | undefined {
  const { name } = pmsNameOf(key);
  if (name === 'HostRules[].Action' && value === 'File') return FILE_ACTION;
  const isObject = typeof value === 'object' && value !== null && !Array.isArray(value);
  if (name === 'HostRules' && isObject && (Object.hasOwn(value, 'Items') || Object.hasOwn(value, 'Files'))) return "ProxyMapService's HostRules.Items is this list here";
  return undefined;
}
