import convict from 'convict';
import { parseUpstreamTemplate } from '../upstream/upstream-url.js';
import { MINUTE_MS, SECOND_MS, parseDuration } from './formats.js';

function durationFormat(bareUnitMs: number, bareUnitName: string) {
  return (value: unknown): void => {
    if (parseDuration(value, bareUnitMs) === undefined) {
      throw new Error(
        `must be a number of ${bareUnitName} or a string with a unit ("90s", "10m", "2h"): value was ${JSON.stringify(value)}`,
      );
    }
  };
}

convict.addFormat({
  name: 'lifetime',
  validate: durationFormat(MINUTE_MS, 'minutes'),
});

convict.addFormat({
  name: 'timeout',
  validate: durationFormat(SECOND_MS, 'seconds'),
});

convict.addFormat({
  name: 'upstream-url',
  validate(value: unknown) {
    if (typeof value !== 'string') throw new Error('must be a string');
    if (value === '') return;
    try {
      parseUpstreamTemplate(value);
    } catch (error) {
      // The message never repeats the URL: it may hold the provider password.
      throw new Error(`invalid upstream proxy URL: ${(error as Error).message}`);
    }
  },
});

convict.addFormat({
  name: 'id-alphabet',
  validate(value: unknown) {
    if (typeof value !== 'string' || new Set(value).size < 2 || new Set(value).size !== value.length) {
      throw new Error('must be at least 2 distinct characters, none repeated');
    }
    if (value.length > 255) throw new Error('must be at most 255 characters');
  },
});

/**
 * The configuration schema. Key names follow ProxyMapService's appsettings.json.
 * Each `env` is the environment variable that overrides the key (see README).
 */
export const schema = {
  Listen: {
    Host: { doc: 'Address the port listeners bind to', format: String, default: '127.0.0.1', env: 'STICKYPORT_LISTEN_HOST' },
    PortRange: {
      Start: { doc: 'First port of the range', format: 'port', default: 10201, env: 'STICKYPORT_PORT_START' },
      End: { doc: 'Last port of the range (inclusive)', format: 'port', default: 10300, env: 'STICKYPORT_PORT_END' },
    },
    StickyProxyLifetime: {
      doc: 'Session lifetime: minutes, or a string with a unit ("90s", "2h"); 0 = never expires',
      format: 'lifetime',
      default: 10 as number | string,
      env: 'STICKYPORT_STICKY_LIFETIME',
    },
    IdleTimeout: {
      doc: 'Close a client connection or tunnel idle this long: seconds or a string with a unit',
      format: 'timeout',
      default: '60s' as number | string,
      env: 'STICKYPORT_IDLE_TIMEOUT',
    },
    AllowUnauthenticatedPublic: {
      doc: 'Allow a non-loopback Listen.Host without client authentication (an open proxy)',
      format: Boolean,
      default: false,
      env: 'STICKYPORT_ALLOW_UNAUTHENTICATED_PUBLIC',
    },
  },
  Upstream: {
    Url: {
      doc: 'Upstream proxy URL template with {session}, {port}, {lifetime}; empty = connect directly',
      format: 'upstream-url',
      default: '',
      env: 'STICKYPORT_UPSTREAM_URL',
      sensitive: true,
    },
    ConnectTimeout: {
      doc: 'Give up connecting to the upstream after this long (504): seconds or a string with a unit',
      format: 'timeout',
      default: '10s' as number | string,
      env: 'STICKYPORT_UPSTREAM_CONNECT_TIMEOUT',
    },
    ResponseTimeout: {
      doc: 'Answer 504 when the upstream sends nothing for this long on a plain HTTP request: seconds or a string with a unit',
      format: 'timeout',
      default: '30s' as number | string,
      env: 'STICKYPORT_UPSTREAM_RESPONSE_TIMEOUT',
    },
  },
  Session: {
    IdLength: { doc: 'Length of session ids', format: 'nat', default: 8, env: 'STICKYPORT_SESSION_ID_LENGTH' },
    IdAlphabet: {
      doc: 'Characters session ids are drawn from',
      format: 'id-alphabet',
      default: 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ',
      env: 'STICKYPORT_SESSION_ID_ALPHABET',
    },
  },
  SessionAPI: {
    Enabled: { doc: 'Answer the session API on the virtual domain', format: Boolean, default: false, env: 'STICKYPORT_SESSION_API_ENABLED' },
    Domain: {
      doc: 'Virtual host of the session API; empty = answer relative /session paths on the port itself',
      format: String,
      default: 'portmapper',
      env: 'STICKYPORT_SESSION_API_DOMAIN',
    },
    Password: {
      doc: 'When set, API calls need ?pwd=... or the proxy login',
      format: String,
      default: '',
      env: 'STICKYPORT_SESSION_API_PASSWORD',
      sensitive: true,
    },
    PublicRead: {
      doc: 'With a Password set, still let anyone read GET /session/',
      format: Boolean,
      default: false,
      env: 'STICKYPORT_SESSION_API_PUBLIC_READ',
    },
  },
  SessionStore: {
    Type: { doc: 'Where sessions live', format: ['memory', 'file', 'redis'], default: 'memory', env: 'STICKYPORT_STORE_TYPE' },
    Path: { doc: 'File store path', format: String, default: 'data/sessions.json', env: 'STICKYPORT_STORE_PATH' },
    RedisUrl: {
      doc: 'Redis store URL',
      format: String,
      default: 'redis://127.0.0.1:6379',
      env: 'STICKYPORT_REDIS_URL',
      sensitive: true,
    },
    KeyPrefix: { doc: 'Redis key prefix', format: String, default: 'stickyport:', env: 'STICKYPORT_REDIS_KEY_PREFIX' },
  },
  Authentication: {
    Required: { doc: 'Require a proxy login from clients', format: Boolean, default: false, env: 'STICKYPORT_AUTH_REQUIRED' },
    Username: { doc: 'Client proxy login user name', format: String, default: '', env: 'STICKYPORT_AUTH_USERNAME' },
    Password: { doc: 'Client proxy login password', format: String, default: '', env: 'STICKYPORT_AUTH_PASSWORD', sensitive: true },
  },
  Logging: {
    Level: {
      doc: 'pino log level',
      format: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
      default: 'info',
      env: 'STICKYPORT_LOG_LEVEL',
    },
  },
};
