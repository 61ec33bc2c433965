import { maskingOfLooseText, type Masking } from './secrets.js';
import { nearestKey } from './problems.js';

/**
 * Command-line flags for the common keys: the last configuration layer. A flag's value is text,
 * as an environment variable's is, and is read the same way (src/config/value-formats.ts); a
 * problem with it names the layer `flag --ports`.
 */

/** A flag as given on the command line, in order: `--ports 10201-10300` is { name: 'ports', text }. */
export interface FlagValue {
  readonly name: string;
  readonly text: string;
}

/** What a flag's text stands for: dotted keys with their text, or why it cannot be read. */
export type FlagReading =
  | { readonly values: ReadonlyArray<readonly [key: string, text: string]> }
  | { readonly key: string; readonly problem: string; readonly masking?: Masking };

export interface ConfigFlag {
  readonly name: string;
  /** How the value is written in the help: `FIRST-LAST`. Absent for a flag that takes none. */
  readonly valueName?: string;
  /** The keys it sets, for the help: `Listen.PortRange`. */
  readonly keys: string;
  /** One help line (a second one may follow a newline). */
  readonly help: string;
  read(text: string): FlagReading;
}

const PORT_RANGE = /^\s*(\d{1,15})\s*(?:-\s*(\d{1,15})\s*)?$/;

const ports: ConfigFlag = {
  name: 'ports',
  valueName: 'FIRST-LAST',
  keys: 'Listen.PortRange',
  help: 'the ports, a session each: 10201-10300, or one port',
  read(text) {
    const match = PORT_RANGE.exec(text);
    if (!match) {
      return { key: 'Listen.PortRange', problem: 'must be a range of ports FIRST-LAST such as 10201-10300, or one port' };
    }
    return { values: [['Listen.PortRange.Start', match[1]!], ['Listen.PortRange.End', match[2] ?? match[1]!]] };
  },
};

const single = (name: string, key: string, valueName: string, help: string): ConfigFlag => ({
  name,
  valueName,
  keys: key,
  help,
  read: (text) => ({ values: [[key, text]] }),
});

const upstream: ConfigFlag = {
  name: 'upstream',
  valueName: 'URL',
  keys: 'Upstream.Url',
  help: "the provider's URL, {session} where the id goes; \"direct\": none\n" +
    "'http://user-session-{session}:pw@gate:7777'; http, https, socks4, socks5",
  // The upstream given here replaces one a file names with Upstream.Preset.
  read: (text) => ({ values: [['Upstream.Url', text.trim() === 'direct' ? '' : text], ['Upstream.Preset', '']] }),
};

const preset: ConfigFlag = {
  name: 'preset',
  valueName: 'NAME',
  keys: 'Upstream.Preset',
  help: 'brightdata, oxylabs, decodo, iproyal or soax; the account\nfrom STICKYPORT_UPSTREAM_USERNAME and STICKYPORT_UPSTREAM_PASSWORD',
  read: (text) => ({ values: [['Upstream.Preset', text], ['Upstream.Url', '']] }),
};

const STORES = 'memory, file, file:PATH, redis or redis://HOST:PORT';
const STORE_TYPES = ['memory', 'file', 'redis'] as const;

const store: ConfigFlag = {
  name: 'store',
  valueName: 'STORE',
  keys: 'SessionStore',
  help: STORES,
  read(text) {
    if ((STORE_TYPES as readonly string[]).includes(text)) return { values: [['SessionStore.Type', text]] };
    if (text.startsWith('file:')) return { values: [['SessionStore.Type', 'file'], ['SessionStore.Path', text.slice(5)]] };
    if (/^rediss?:\/\//i.test(text)) return { values: [['SessionStore.Type', 'redis'], ['SessionStore.RedisUrl', text]] };
    // Perhaps the URL of another database, with its password: shown without it (and then no
    // "did you mean", which would only hint at what it holds).
    const masking = maskingOfLooseText(text);
    const meant = masking === 'none' ? nearestKey(text, STORE_TYPES) : undefined;
    return { key: 'SessionStore.Type', problem: `must be ${STORES}${meant ? `; did you mean ${meant}?` : ''}`, masking };
  },
};

const sessionApi: ConfigFlag = {
  name: 'session-api',
  keys: 'SessionAPI.Enabled',
  help: 'answer http://portmapper/session/ on every port',
  read: () => ({ values: [['SessionAPI.Enabled', 'true']] }),
};

/** Every flag that sets configuration, in the order the help lists them. */
export const CONFIG_FLAGS: readonly ConfigFlag[] = [
  ports,
  single('host', 'Listen.Host', 'ADDRESS', 'the address; one off loopback needs client login'),
  upstream,
  preset,
  single('lifetime', 'Listen.StickyProxyLifetime', 'DURATION', 'minutes, or 90s, 10m, 2h, 1d; 0 = never expires'),
  store,
  sessionApi,
  single('log-level', 'Logging.Level', 'LEVEL', 'fatal, error, warn, info, debug, trace or silent'),
];

export function configFlagNamed(name: string): ConfigFlag | undefined {
  return CONFIG_FLAGS.find((flag) => flag.name === name);
}

/** The layer name a flag's values carry in messages and in `stickyport check`. */
export const flagOrigin = (name: string): string => `flag --${name}`;
