import { MAX_LIFETIME_MS, MAX_TIMER_MS, MINUTE_MS, SECOND_MS } from './formats.js';
import { SCHEMES } from '../upstream/upstream-url.js';
import { schema } from './schema.js';
import { driftAction, logLevel, presetName, rotationAction, ruleAction, storeType } from './value-formats.js';
import { PARAMETER_NAME } from '../upstream/upstream-url.js';

// config/appsettings.schema.json is generated from the convict schema, the one source of
// truth, so that editors can check appsettings files as they are typed; test/unit keeps the
// committed file equal to this output.

type JsonSchema = Record<string, unknown>;

interface Leaf {
  doc: string;
  format: unknown;
  default?: unknown;
  env?: string;
}

interface Structured {
  doc: string;
  list?: string;
  map?: string;
  records?: object;
  default?: unknown;
}

const DURATION_STRING = { type: 'string', pattern: '^\\s*\\d+(\\.\\d+)?\\s*(ms|s|m|h|d)?\\s*$' };
// A status, a class ("5xx") or a range ("500-504"); whether a range is low to high is left to the loader.
const STATUS_ITEM = [{ type: 'integer', minimum: 100, maximum: 599 }, { type: 'string', pattern: '^\\s*([1-5][xX][xX]|[1-5]\\d\\d(\\s*-\\s*[1-5]\\d\\d)?)\\s*$' }];
const CONNECT_ITEM = [...STATUS_ITEM, { type: 'string', pattern: '^\\s*([rR][eE][fF][uU][sS][eE][dD]|[tT][iI][mM][eE][oO][uU][tT]|[rR][eE][sS][eE][tT])\\s*$' }];

function formatSchema(format: unknown): JsonSchema {
  switch (format) {
    case 'strict-boolean':
      return { type: 'boolean' };
    case 'auto-boolean':
      return { oneOf: [{ type: 'boolean' }, { const: 'auto' }] };
    case 'port-number':
      return { type: 'integer', minimum: 1, maximum: 65535 };
    case 'id-length':
      return { type: 'integer', minimum: 1, maximum: 64 };
    case 'connection-limit':
      return { oneOf: [{ type: 'integer', minimum: 0 }, { const: 'auto' }] };
    // Ranges the JSON Schema cannot say (at most 365 days, a timeout above 0) are left to the loader.
    case 'lifetime':
      return { oneOf: [{ type: 'number', minimum: 0, maximum: MAX_LIFETIME_MS / MINUTE_MS }, DURATION_STRING] };
    case 'timeout':
      return { oneOf: [{ type: 'number', exclusiveMinimum: 0, maximum: MAX_TIMER_MS / SECOND_MS }, DURATION_STRING] };
    case 'interval':
      return { oneOf: [{ type: 'number', minimum: 0, maximum: MAX_TIMER_MS / SECOND_MS }, DURATION_STRING] };
    case 'echo-url':
      return { type: 'string', pattern: '^$|^[hH][tT][tT][pP][sS]?://[^@/]+(/.*)?$' };
    case 'drift-action':
      return { enum: driftAction.values };
    case 'rotation-action':
      return { enum: rotationAction.values };
    case 'rule-name':
      return { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,64}$' };
    case 'header-name':
      return { type: 'string', pattern: "^[!#$%&'*+\\-.^_`|~0-9A-Za-z]{1,100}$" };
    case 'header-value':
      return { type: 'string', minLength: 1 };
    case 'body-marker':
      return { type: 'string', minLength: 1, maxLength: 256 };
    case 'consecutive-count':
      return { type: 'integer', minimum: 1, maximum: 1000 };
    case 'body-scan-kib':
      return { type: 'integer', minimum: 1, maximum: 1024 };
    case 'status-list':
      return { oneOf: [...STATUS_ITEM, { type: 'array', minItems: 1, items: { oneOf: STATUS_ITEM } }] };
    case 'connect-status-list':
      return { oneOf: [...CONNECT_ITEM, { type: 'array', minItems: 1, items: { oneOf: CONNECT_ITEM } }] };
    case 'text':
      return { type: 'string', pattern: '^[^\\u0000-\\u001f\\u007f]*$' };
    case 'non-empty-text':
      return { type: 'string', minLength: 1, pattern: '^[^\\u0000-\\u001f\\u007f]*$' };
    case 'password-text':
      return { type: 'string', pattern: '^$|^(?=[\\s\\S]*\\S)[^\\u0000-\\u001f\\u007f]*$' };
    case 'bearer-token':
      return { type: 'string', pattern: '^[^\\s\\u0000-\\u001f\\u007f]*$' };
    case 'api-domain':
      // value-formats.ts isApiDomain: labels of 1-63, at most 253 characters (and the root's
      // dot), the last label not a number that URL parsers read as an IPv4 address.
      return { type: 'string', pattern: '^$|^(?=.{1,253}\\.?$)([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\\.)*(?!(0[xX][0-9a-fA-F]*|[0-9]+)\\.?$)[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\\.?$' };
    case 'store-type':
      return { enum: storeType.values };
    case 'log-level':
      return { enum: logLevel.values };
    case 'id-alphabet':
      return { type: 'string', pattern: '^[A-Za-z0-9_]*$', minLength: 2, maxLength: 63 };
    case 'upstream-url':
      return { type: 'string', pattern: upstreamSchemePattern() };
    // A host name (an internationalized one too), an IPv4 or an IPv6 address: which of them, and
    // whether it is one, is left to the loader; here only what none of them can hold.
    case 'upstream-host':
      return { type: 'string', pattern: '^[^\\u0000-\\u0020\\u007f/@{}]*$' };
    case 'redis-url':
      return { type: 'string', pattern: '^rediss?://' };
    case 'optional-port':
      return { type: 'integer', minimum: 0, maximum: 65535 };
    case 'refusal-count':
      return { type: 'integer', minimum: 1, maximum: 1000 };
    case 'mapping-name':
      return { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,64}$' };
    case 'preset':
      return { enum: presetName.values };
    case 'rule-action':
      return { enum: ruleAction.values };
    case 'parameter-value':
      return { type: 'string', pattern: '^([A-Za-z0-9_]{1,64})?$' };
    // A glob, or a regular expression between slashes (whether it compiles is left to the loader).
    case 'host-pattern':
      return { type: 'string', pattern: '^(/.+/|[a-zA-Z0-9.*_:-]+)$' };
    case 'request-log':
      return { oneOf: [{ type: 'boolean' }, { const: 'errors' }] };
    case 'admin-host':
      return { type: 'string', minLength: 1, pattern: '\\S' };
    case 'admin-port':
      return { oneOf: [{ type: 'integer', minimum: 1, maximum: 65535 }, { const: 'auto' }] };
    default:
      throw new Error(`no JSON Schema for convict format ${String(format)}`);
  }
}

function isLeaf(node: object): node is Leaf {
  return 'format' in node;
}

function isStructured(node: object): node is Structured {
  return 'list' in node || 'map' in node || 'records' in node;
}

function structuredSchema(node: Structured): JsonSchema {
  const described = { description: node.doc, ...(node.default === undefined ? {} : { default: node.default }) };
  if (node.list) return { ...described, type: 'array', items: formatSchema(node.list) };
  if (node.map) {
    return {
      ...described,
      type: 'object',
      propertyNames: { pattern: PARAMETER_NAME.source, not: { enum: ['session', 'port', 'lifetime'] } },
      additionalProperties: formatSchema(node.map),
    };
  }
  return { ...described, type: 'array', items: nodeSchema(node.records!) };
}

function nodeSchema(node: object): JsonSchema {
  if (isLeaf(node)) {
    const env = node.env ? ` (environment: ${node.env})` : '';
    return { description: `${node.doc}${env}`, ...formatSchema(node.format), ...(node.default === undefined ? {} : { default: node.default }) };
  }
  if (isStructured(node)) return structuredSchema(node);
  const properties = Object.fromEntries(Object.entries(node).map(([key, child]) => [key, nodeSchema(child as object)]));
  return { type: 'object', properties, additionalProperties: false };
}

/** The JSON Schema of appsettings.json; `$schema` is the one key beyond the convict schema. */
export function appsettingsJsonSchema(): JsonSchema {
  const root = nodeSchema(schema);
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    title: 'stickyport appsettings.json',
    ...root,
    properties: { $schema: { type: 'string' }, ...(root.properties as object) },
  };
}

/**
 * The schemes the upstream URL parser accepts, from its own table: the loader reads the scheme
 * case-insensitively, a JSON Schema pattern cannot, so each letter is a class of both cases.
 */
function upstreamSchemePattern(): string {
  const either = (name: string): string =>
    [...name].map((ch) => (/[a-z]/.test(ch) ? `[${ch}${ch.toUpperCase()}]` : ch)).join('');
  return `^$|^\\s*(?:${Object.keys(SCHEMES).map(either).join('|')})://`;
}
