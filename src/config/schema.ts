import './value-formats.js';

/**
 * The configuration schema. Key names follow ProxyMapService's appsettings.json.
 * Each `env` is the environment variable that overrides the key (see README); each `format`
 * is one of src/config/value-formats.ts, which also says how the environment writes it.
 * A `sensitive` value is masked in messages: all of it, or with `masking`, a URL's password.
 */
export const schema = {
  Listen: {
    Host: { doc: 'Address the port listeners bind to', format: 'non-empty-text', default: '127.0.0.1', env: 'STICKYPORT_LISTEN_HOST' },
    PortRange: {
      Start: { doc: 'First port of the range', format: 'port-number', default: 10201, env: 'STICKYPORT_PORT_START' },
      End: { doc: 'Last port of the range (inclusive)', format: 'port-number', default: 10300, env: 'STICKYPORT_PORT_END' },
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
      format: 'strict-boolean',
      default: false,
      env: 'STICKYPORT_ALLOW_UNAUTHENTICATED_PUBLIC',
    },
    HeadersTimeout: {
      doc: "A request's headers must arrive within this, else 408 and close: seconds or a string with a unit",
      format: 'timeout',
      default: '30s' as number | string,
      env: 'STICKYPORT_HEADERS_TIMEOUT',
    },
    MaxConnectionsPerClient: {
      doc: 'Open connections one client address may hold across all ports: 0 = no limit, "auto" = from the open-file limit',
      format: 'connection-limit',
      default: 'auto' as number | 'auto',
      env: 'STICKYPORT_MAX_CONNECTIONS_PER_CLIENT',
    },
    MaxConnectionsPerPort: {
      doc: 'Open connections one listening port may hold: 0 = no limit, "auto" = from the open-file limit',
      format: 'connection-limit',
      default: 'auto' as number | 'auto',
      env: 'STICKYPORT_MAX_CONNECTIONS_PER_PORT',
    },
    AllowPrivateTargets: {
      doc: 'Let direct connections reach loopback, link-local and private addresses; "auto" = only when Listen.Host is loopback',
      format: 'auto-boolean',
      default: 'auto' as boolean | 'auto',
      env: 'STICKYPORT_ALLOW_PRIVATE_TARGETS',
    },
  },
  Upstream: {
    Url: {
      doc: 'Upstream proxy URL template with {session}, {port}, {lifetime}; empty = connect directly',
      format: 'upstream-url',
      default: '',
      env: 'STICKYPORT_UPSTREAM_URL',
      sensitive: true,
      masking: 'url-password',
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
    PoolIdleTimeout: {
      doc: "Close pooled upstream connections idle longer than this (keep it below the provider's own): seconds or a string with a unit",
      format: 'timeout',
      default: '4s' as number | string,
      env: 'STICKYPORT_UPSTREAM_POOL_IDLE_TIMEOUT',
    },
  },
  Session: {
    IdLength: { doc: 'Length of session ids', format: 'id-length', default: 8, env: 'STICKYPORT_SESSION_ID_LENGTH' },
    IdAlphabet: {
      doc: 'Characters session ids are drawn from: A-Z a-z 0-9 _ only',
      format: 'id-alphabet',
      default: 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ',
      env: 'STICKYPORT_SESSION_ID_ALPHABET',
    },
  },
  SessionAPI: {
    Enabled: { doc: 'Answer the session API on the virtual domain', format: 'strict-boolean', default: false, env: 'STICKYPORT_SESSION_API_ENABLED' },
    Domain: {
      doc: 'Virtual host of the session API; empty = answer relative /session paths on the port itself',
      format: 'api-domain',
      default: 'portmapper',
      env: 'STICKYPORT_SESSION_API_DOMAIN',
    },
    Password: {
      doc: 'When set, API calls need ?pwd=... or the proxy login',
      format: 'text',
      default: '',
      env: 'STICKYPORT_SESSION_API_PASSWORD',
      sensitive: true,
    },
    PublicRead: {
      doc: 'With a Password set, still let anyone read GET /session/',
      format: 'strict-boolean',
      default: false,
      env: 'STICKYPORT_SESSION_API_PUBLIC_READ',
    },
  },
  SessionStore: {
    Type: { doc: 'Where sessions live', format: 'store-type', default: 'memory', env: 'STICKYPORT_STORE_TYPE' },
    Path: { doc: 'File store path', format: 'non-empty-text', default: 'data/sessions.json', env: 'STICKYPORT_STORE_PATH' },
    RedisUrl: {
      doc: 'Redis store URL: redis:// or rediss://',
      format: 'redis-url',
      default: 'redis://127.0.0.1:6379',
      env: 'STICKYPORT_REDIS_URL',
      sensitive: true,
      masking: 'url-credentials',
    },
    KeyPrefix: { doc: 'Redis key prefix', format: 'text', default: 'stickyport:', env: 'STICKYPORT_REDIS_KEY_PREFIX' },
  },
  Authentication: {
    Required: { doc: 'Require a proxy login from clients', format: 'strict-boolean', default: false, env: 'STICKYPORT_AUTH_REQUIRED' },
    Username: { doc: 'Client proxy login user name', format: 'text', default: '', env: 'STICKYPORT_AUTH_USERNAME' },
    Password: { doc: 'Client proxy login password', format: 'text', default: '', env: 'STICKYPORT_AUTH_PASSWORD', sensitive: true },
  },
  Logging: {
    Level: {
      doc: 'pino log level',
      format: 'log-level',
      default: 'info',
      env: 'STICKYPORT_LOG_LEVEL',
    },
    Requests: {
      doc: 'One info line per finished request or tunnel: true, false, or "errors" (failures only)',
      format: 'request-log',
      default: true as boolean | 'errors',
      env: 'STICKYPORT_LOG_REQUESTS',
    },
    RequestUrls: {
      doc: "Log a plain request's path with its query string (off: the path without it)",
      format: 'strict-boolean',
      default: false,
      env: 'STICKYPORT_LOG_REQUEST_URLS',
    },
  },
  Admin: {
    Enabled: { doc: 'Serve the admin server: status page, /metrics, /api, /healthz, /readyz', format: 'strict-boolean', default: false, env: 'STICKYPORT_ADMIN_ENABLED' },
    Host: {
      doc: 'Address the admin server binds to; "auto" = Listen.Host',
      format: 'admin-host',
      default: 'auto',
      env: 'STICKYPORT_ADMIN_HOST',
    },
    Port: {
      doc: 'Port of the admin server; "auto" = the port just below Listen.PortRange.Start',
      format: 'admin-port',
      default: 'auto' as number | 'auto',
      env: 'STICKYPORT_ADMIN_PORT',
    },
    Token: {
      doc: 'Bearer token the admin API and /metrics require; needed when Admin.Host is not loopback',
      format: 'text',
      default: '',
      env: 'STICKYPORT_ADMIN_TOKEN',
      sensitive: true,
    },
  },
  Metrics: {
    PerPortLabels: {
      doc: 'Label request and byte counters with the local port (one series per port: for small ranges only)',
      format: 'strict-boolean',
      default: false,
      env: 'STICKYPORT_METRICS_PER_PORT_LABELS',
    },
  },
};
