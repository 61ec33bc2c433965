import './value-formats.js';

/**
 * The keys of an upstream, at the top level, in a mapping and in a host rule. `Url`, `Urls` and
 * `Preset` are three ways to name it (one at a time); `Username` to `Port` are the preset's.
 */
const UPSTREAM = {
  Url: {
    doc: 'Upstream proxy URL template with {session}, {port}, {lifetime} and the Parameters; empty = connect directly',
    format: 'upstream-url',
    sensitive: true,
    masking: 'url-password',
  },
  Urls: {
    doc: 'A pool of upstream URL templates: each session is pinned to one (the one with the fewest live sessions)',
    list: 'upstream-url',
    sensitive: true,
    masking: 'url-password',
  },
  Parameters: {
    doc: 'User name parameters and their defaults, e.g. { "country": "us", "city": "" }; "" = none',
    map: 'parameter-value',
    keys: 'parameter-name',
  },
  Preset: { doc: 'A provider whose sticky-session grammar stickyport renders: brightdata, oxylabs, decodo, iproyal, soax', format: 'preset' },
  Username: { doc: 'With Preset: the account user name as the provider\'s dashboard shows it', format: 'text' },
  Password: { doc: 'With Preset: the account password', format: 'text', sensitive: true },
  Host: { doc: 'With Preset: another gateway host of the provider; "" = its main one', format: 'upstream-host' },
  Port: { doc: 'With Preset: another gateway port; 0 = its main one', format: 'optional-port' },
} as const;

/** A host rule: `HostRules[]` and `Mappings[].HostRules[]`. No key has a default of its own. */
const HOST_RULE = {
  Pattern: { doc: 'Host name pattern: a glob (*.example.com) or an anchored regular expression between slashes', format: 'host-pattern' },
  Action: { doc: 'Allow (through the port\'s session, the default), Deny (403) or Bypass (connect directly)', format: 'rule-action' },
  OverrideHost: { doc: 'Connect to this host instead (the request itself is unchanged)', format: 'text' },
  OverridePort: { doc: 'Connect to this port instead', format: 'port-number' },
  Upstream: {
    Url: UPSTREAM.Url,
    Urls: UPSTREAM.Urls,
    Parameters: UPSTREAM.Parameters,
    Preset: UPSTREAM.Preset,
    Username: UPSTREAM.Username,
    Password: UPSTREAM.Password,
    Host: UPSTREAM.Host,
    Port: UPSTREAM.Port,
  },
} as const;

/**
 * A rotation rule: `Rotation.Rules[]` and `Mappings[].Rotation.Rules[]`. `When` says which
 * events count; the rule acts once `Consecutive` of them came in a row on a port.
 */
const ROTATION_RULE = {
  Name: { doc: 'The rule\'s name, in logs and metrics (default: its place, e.g. Rotation.Rules[0])', format: 'rule-name' },
  When: {
    Status: { doc: 'Plain-HTTP answers with these statuses: 429, "5xx", "500-504", or a list of them', format: 'status-list' },
    Header: {
      Name: { doc: 'Plain-HTTP answers carrying this header (any case)', format: 'header-name' },
      Value: { doc: 'Whose value contains this text (any case), or matches this regular expression between slashes; absent = any value', format: 'header-value' },
    },
    BodyContains: { doc: 'Plain-HTTP answers whose first Rotation.BodyScanKiB of body hold this text (exact bytes, after gzip/deflate/br decoding)', format: 'body-marker' },
    ConnectStatus: { doc: 'Tunnels (CONNECT, SOCKS) the upstream refused with these statuses, or "refused", "timeout", "reset"', format: 'connect-status-list' },
    Consecutive: { doc: 'How many such events in a row on a port make the rule act (default 1)', format: 'consecutive-count' },
  },
  Action: { doc: 'rotate (default): a new session for the port at once; rotate-and-retry: also send an idempotent request without body once more on it', format: 'rotation-action' },
  Cooldown: { doc: 'After acting on a port, the rule does not act on that port again for this long (default 30s; 0 = no wait)', format: 'interval' },
} as const;

const ROTATION_RULES_DOC = 'Ordered rotation rules: the first whose When matches an event counts it';

/** One mapping: `Mappings[]`. What it leaves out comes from the top-level key of the same name. */
const MAPPING = {
  Name: { doc: 'The mapping\'s name, in logs and API answers (default: mapping-N)', format: 'mapping-name' },
  Listen: {
    Host: { doc: 'Address this mapping\'s ports bind to', format: 'non-empty-text' },
    Port: { doc: 'One port (instead of PortRange)', format: 'port-number' },
    PortRange: {
      Start: { doc: 'First port of the range', format: 'port-number' },
      End: { doc: 'Last port of the range (inclusive)', format: 'port-number' },
    },
    StickyProxyLifetime: { doc: 'Session lifetime: minutes, or a string with a unit; 0 = never expires', format: 'lifetime' },
    RejectHttpProxy: { doc: 'CONNECT only: plain proxied HTTP gets 403', format: 'strict-boolean' },
  },
  Upstream: HOST_RULE.Upstream,
  Authentication: {
    Required: { doc: 'Require a proxy login from clients', format: 'strict-boolean' },
    Username: { doc: 'Client proxy login user name', format: 'text' },
    Password: { doc: 'Client proxy login password', format: 'text', sensitive: true },
    ParseUsernameParameters: { doc: 'Read Upstream.Parameters from the client login', format: 'strict-boolean' },
  },
  HostRules: { doc: 'This mapping\'s host rules, consulted before the global HostRules', records: HOST_RULE },
  Rotation: {
    Rules: { doc: 'This mapping\'s rotation rules, consulted before the global Rotation.Rules', records: ROTATION_RULE },
  },
} as const;

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
    RejectHttpProxy: {
      doc: 'CONNECT only: plain proxied HTTP gets 403 (the session API still answers)',
      format: 'strict-boolean',
      default: false,
      env: 'STICKYPORT_REJECT_HTTP_PROXY',
    },
  },
  Upstream: {
    Url: { ...UPSTREAM.Url, default: '', env: 'STICKYPORT_UPSTREAM_URL' },
    Urls: { ...UPSTREAM.Urls, default: [] as string[] },
    Parameters: { ...UPSTREAM.Parameters, default: {} as Record<string, string> },
    Preset: { ...UPSTREAM.Preset, default: '', env: 'STICKYPORT_UPSTREAM_PRESET' },
    Username: { ...UPSTREAM.Username, default: '', env: 'STICKYPORT_UPSTREAM_USERNAME' },
    Password: { ...UPSTREAM.Password, default: '', env: 'STICKYPORT_UPSTREAM_PASSWORD' },
    Host: { ...UPSTREAM.Host, default: '', env: 'STICKYPORT_UPSTREAM_HOST' },
    Port: { ...UPSTREAM.Port, default: 0, env: 'STICKYPORT_UPSTREAM_PORT' },
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
    Cooldown: {
      Refusals: {
        doc: 'An upstream of Upstream.Urls refusing this many connections within Cooldown.Within is skipped for Cooldown.For',
        format: 'refusal-count',
        default: 3,
        env: 'STICKYPORT_UPSTREAM_COOLDOWN_REFUSALS',
      },
      Within: {
        doc: 'The window refusals are counted in: seconds or a string with a unit',
        format: 'timeout',
        default: '30s' as number | string,
        env: 'STICKYPORT_UPSTREAM_COOLDOWN_WITHIN',
      },
      For: {
        doc: 'How long a refusing upstream is skipped (its sessions move to another): seconds or a string with a unit',
        format: 'timeout',
        default: '60s' as number | string,
        env: 'STICKYPORT_UPSTREAM_COOLDOWN_FOR',
      },
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
    KeepAlive: {
      doc: 'A session idle this long gets one small request through its own route (to Session.KeepAliveUrl or Identity.EchoUrl): seconds or a string with a unit; 0 = off',
      format: 'interval',
      default: 0 as number | string,
      env: 'STICKYPORT_SESSION_KEEP_ALIVE',
    },
    KeepAliveUrl: {
      doc: 'Where keep-alive requests go; "" = Identity.EchoUrl',
      format: 'echo-url',
      default: '',
      env: 'STICKYPORT_SESSION_KEEP_ALIVE_URL',
      sensitive: true,
      masking: 'url-query',
    },
  },
  Identity: {
    EchoUrl: {
      doc: 'A URL answering the caller\'s IP (plain text, or JSON with "ip"), fetched through a session\'s own route; "" = off',
      format: 'echo-url',
      default: '',
      env: 'STICKYPORT_IDENTITY_ECHO_URL',
      sensitive: true,
      masking: 'url-query',
    },
    CheckOnCreate: {
      doc: 'Ask the echo URL for a session\'s exit IP as soon as this instance starts using the session',
      format: 'strict-boolean',
      default: false,
      env: 'STICKYPORT_IDENTITY_CHECK_ON_CREATE',
    },
    CheckEvery: {
      doc: 'Ask again when a session is used and its last check is this old: seconds or a string with a unit; 0 = never',
      format: 'interval',
      default: 0 as number | string,
      env: 'STICKYPORT_IDENTITY_CHECK_EVERY',
    },
    OnDrift: {
      doc: 'A session answering from another exit IP than before: log (a warning) or rotate (a new session)',
      format: 'drift-action',
      default: 'log',
      env: 'STICKYPORT_IDENTITY_ON_DRIFT',
    },
    Timeout: {
      doc: 'An echo request (or a keep-alive request) gets this long to answer in full: seconds or a string with a unit',
      format: 'timeout',
      default: '10s' as number | string,
      env: 'STICKYPORT_IDENTITY_TIMEOUT',
    },
  },
  Rotation: {
    Rules: { doc: `${ROTATION_RULES_DOC}; a mapping's own come first`, records: ROTATION_RULE, default: [] as unknown[] },
    BodyScanKiB: {
      doc: 'How much of a plain-HTTP answer body (decoded) BodyContains looks at: KiB, 1-1024',
      format: 'body-scan-kib',
      default: 16,
      env: 'STICKYPORT_ROTATION_BODY_SCAN_KIB',
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
      format: 'password-text',
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
    ExposeSessionHeader: {
      doc: 'Plain-HTTP answers through a port carry X-Stickyport-Session-Id: the session they went out on',
      format: 'strict-boolean',
      default: false,
      env: 'STICKYPORT_SESSION_API_EXPOSE_SESSION_HEADER',
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
      masking: 'redis-url',
    },
    KeyPrefix: { doc: 'Redis key prefix', format: 'text', default: 'stickyport:', env: 'STICKYPORT_REDIS_KEY_PREFIX' },
  },
  Authentication: {
    Required: { doc: 'Require a proxy login from clients', format: 'strict-boolean', default: false, env: 'STICKYPORT_AUTH_REQUIRED' },
    Username: { doc: 'Client proxy login user name', format: 'text', default: '', env: 'STICKYPORT_AUTH_USERNAME' },
    Password: { doc: 'Client proxy login password', format: 'text', default: '', env: 'STICKYPORT_AUTH_PASSWORD', sensitive: true },
    ParseUsernameParameters: {
      doc: 'Read Upstream.Parameters from the client login: user-country-de-city-berlin',
      format: 'strict-boolean',
      default: false,
      env: 'STICKYPORT_AUTH_PARSE_USERNAME_PARAMETERS',
    },
  },
  HostRules: {
    doc: 'Ordered host rules for every mapping, after each mapping\'s own: the first match decides',
    records: HOST_RULE,
    default: [] as unknown[],
  },
  Mappings: {
    doc: 'Port mappings, each with its own ports, upstream, lifetime and login; the top-level keys are their defaults',
    records: MAPPING,
    default: [] as unknown[],
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
      format: 'bearer-token',
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
