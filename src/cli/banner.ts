import path from 'node:path';
import type { MappingConfig, StickyportConfig } from '../config/load.js';
import { showValue } from '../config/secrets.js';
import { hostForUrl } from '../upstream/upstream-url.js';

/** The address a client on this machine reaches a listener on: 0.0.0.0 and :: are not one. */
function reachableHost(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::' || host === '[::]') return '::1';
  return host;
}

function describeStore(store: StickyportConfig['store'], cwd: string): string {
  switch (store.type) {
    case 'memory':
      return 'memory (sessions end when stickyport stops)';
    case 'file':
      return `file ${path.resolve(cwd, store.path)}`;
    case 'redis':
      return `redis ${showValue(store.redisUrl, 'redis-url').slice(1, -1)}, key prefix ${store.keyPrefix}`;
  }
}

/** One command to try: the session API when it is on, else a request that shows the exit IP. */
function exampleCommand(config: StickyportConfig): string {
  const [first] = config.mappings;
  const proxy = `http://${hostForUrl(reachableHost(first!.host))}:${first!.portStart}`;
  const login = first!.auth.required ? ` --proxy-user '${first!.auth.username}:<password>'` : '';
  const { sessionApi } = config;
  if (!sessionApi.enabled) return `curl${login} -x ${proxy} https://api.ipify.org`;
  // A password-protected API also accepts the proxy login; without one it needs ?pwd=.
  const pwd = sessionApi.password && !sessionApi.publicRead && !first!.auth.required ? '?pwd=<password>' : '';
  // Quoted only when the shell would read the "?".
  const quote = (url: string): string => (pwd ? `'${url}'` : url);
  if (sessionApi.domain === '') return `curl${login} ${quote(`${proxy}/session/${pwd}`)}`;
  return `curl${login} -x ${proxy} ${quote(`http://${sessionApi.domain}/session/${pwd}`)}`;
}

function describeApi(config: StickyportConfig): string {
  const { sessionApi } = config;
  if (!sessionApi.enabled) return 'off (--session-api turns it on)';
  const where = sessionApi.domain === '' ? '/session/ on each port itself' : `http://${sessionApi.domain}/session/ through any port`;
  return `${where}${sessionApi.password ? ', password protected' : ''}`;
}

/**
 * The start-up summary for a person at a terminal: what listens where, where it goes, where
 * sessions live, and one command to try. Secrets are masked as in the logs.
 */
function describePorts(start: number, end: number): string {
  const count = end - start + 1;
  return count === 1 ? `port ${start}` : `${count} ports: ${start}-${end}`;
}

function describeMembers(mapping: MappingConfig): string {
  const { members } = mapping.upstream;
  if (members.length === 0) return 'none: each port connects to targets directly';
  if (members.length === 1) return members[0]!.description;
  return `a pool of ${members.length}: ${members.map((member) => member.description).join(', ')}`;
}

/** Where exit IPs are asked from and when; only the echo URL's host (its query may hold a token). */
function describeIdentity(config: StickyportConfig): string | undefined {
  const { echoUrl, checkOnCreate, checkEveryMs, onDrift } = config.identity;
  if (!echoUrl) return undefined;
  const when = ['on demand (/session/?ip=1)', ...(checkOnCreate ? ['on first use'] : []), ...(checkEveryMs > 0 ? [`every ${checkEveryMs / 1000} s in use`] : [])];
  return `asked from ${new URL(echoUrl).host} ${when.join(', ')}; drift: ${onDrift}`;
}

export function startupBanner(config: StickyportConfig, version: string, cwd = process.cwd()): string {
  const [first] = config.mappings;
  const several = config.mappings.length > 1 || first!.source !== '';
  const rows: Array<[string, string]> = several
    ? config.mappings.map((mapping) => [
        mapping.name,
        `${hostForUrl(mapping.host)}, ${describePorts(mapping.portStart, mapping.portEnd)} -> ${describeMembers(mapping)}` +
          `${mapping.hostRules.length > 0 ? `, ${mapping.hostRules.length} host rules` : ''}${mapping.auth.required ? `, login ${mapping.auth.username}` : ''}` +
          `${mapping.rejectHttpProxy ? ', CONNECT only' : ''}${mapping.rotationRules.length > 0 ? `, ${mapping.rotationRules.length} rotation rules` : ''}`,
      ])
    : [['upstream', describeMembers(first!)]];
  if (!several && first!.hostRules.length > 0) rows.push(['host rules', `${first!.hostRules.length}, the first match decides`]);
  if (!several && first!.rotationRules.length > 0) rows.push(['rotation rules', first!.rotationRules.map((rule) => rule.name).join(', ')]);
  const identity = describeIdentity(config);
  if (identity) rows.push(['exit identity', identity]);
  if (config.identity.keepAliveMs > 0) rows.push(['keep-alive', `a session idle ${config.identity.keepAliveMs / 1000} s gets a request to ${new URL(config.identity.keepAliveUrl).host}`]);
  rows.push(['store', describeStore(config.store, cwd)], ['session API', describeApi(config)]);
  if (first!.auth.required) rows.push(['client login', `required (user ${first!.auth.username})`]);
  if (config.admin.enabled) {
    const admin = `http://${hostForUrl(reachableHost(config.admin.host))}:${config.admin.port}/`;
    rows.push(['admin', `${admin} (status page, /metrics, /api/ports${config.admin.token ? '; bearer token' : ''})`]);
  }
  rows.push(['try', exampleCommand(config)]);
  const width = Math.max(...rows.map(([label]) => label.length)) + 2;
  const total = config.mappings.reduce((sum, mapping) => sum + mapping.portEnd - mapping.portStart + 1, 0);
  const heading = several
    ? `${config.mappings.length} mappings, ${total} ports`
    : `${hostForUrl(first!.host)}, ${describePorts(first!.portStart, first!.portEnd)}`;
  return [
    `stickyport ${version} listening on ${heading}`,
    ...rows.map(([label, text]) => `  ${label.padEnd(width)}${text}`),
    'Ctrl-C stops it.',
    '',
  ].join('\n');
}
