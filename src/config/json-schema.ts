import { schema } from './schema.js';

// config/appsettings.schema.json is generated from the convict schema, the one source of
// truth, so that editors can check appsettings files as they are typed; test/unit keeps the
// committed file equal to this output.

type JsonSchema = Record<string, unknown>;

interface Leaf {
  doc: string;
  format: unknown;
  default: unknown;
  env?: string;
}

const DURATION_STRING = { type: 'string', pattern: '^\\s*\\d+(\\.\\d+)?\\s*(ms|s|m|h|d)?\\s*$' };

function formatSchema(format: unknown): JsonSchema {
  if (Array.isArray(format)) return { enum: format };
  if (format === String) return { type: 'string' };
  if (format === Boolean) return { type: 'boolean' };
  switch (format) {
    case 'port':
      return { type: 'integer', minimum: 0, maximum: 65535 };
    case 'nat':
      return { type: 'integer', minimum: 0 };
    case 'lifetime':
    case 'timeout':
      return { oneOf: [{ type: 'number', minimum: 0 }, DURATION_STRING] };
    case 'upstream-url':
      return { type: 'string', pattern: '^$|^(https?|socks[45]a?)://' };
    case 'id-alphabet':
      return { type: 'string', minLength: 2, maxLength: 255 };
    default:
      throw new Error(`no JSON Schema for convict format ${String(format)}`);
  }
}

function isLeaf(node: object): node is Leaf {
  return 'format' in node;
}

function nodeSchema(node: object): JsonSchema {
  if (isLeaf(node)) {
    const env = node.env ? ` (environment: ${node.env})` : '';
    return { description: `${node.doc}${env}`, ...formatSchema(node.format), default: node.default };
  }
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
