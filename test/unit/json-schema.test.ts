import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { appsettingsJsonSchema } from '../../src/config/json-schema.js';
import { loadConfig } from '../../src/config/load.js';

const root = path.resolve(import.meta.dirname, '../..');
const schemaFile = path.join(root, 'config/appsettings.schema.json');
const readJson = (file: string): Record<string, unknown> => JSON.parse(readFileSync(file, 'utf8'));
const validate = new Ajv({ strict: true, allErrors: true }).compile(appsettingsJsonSchema());

describe('config/appsettings.schema.json', () => {
  it('is what src/config/json-schema.ts generates from the convict schema (npx vitest -u test/unit/json-schema.test.ts rewrites it)', async () => {
    await expect(`${JSON.stringify(appsettingsJsonSchema(), null, 2)}\n`).toMatchFileSnapshot(schemaFile);
  });

  const files = [
    path.join(root, 'appsettings.json'),
    ...readdirSync(path.join(root, 'config'))
      .filter((name) => name.endsWith('.json') && !name.endsWith('.schema.json'))
      .map((name) => path.join(root, 'config', name)),
  ];
  it.each(files.map((file) => [path.relative(root, file), file]))('accepts %s, as convict does', (_name, file) => {
    expect(validate(readJson(file)), JSON.stringify(validate.errors)).toBe(true);
  });

  it('rejects what convict rejects: an unknown key, a bad scheme, an unparsable lifetime', () => {
    expect(validate({ Listen: { Hots: '127.0.0.1' } })).toBe(false);
    expect(validate({ Upstream: { Url: 'ftp://u:p@host:21' } })).toBe(false);
    expect(validate({ Listen: { StickyProxyLifetime: 'forever' } })).toBe(false);
    expect(validate({ SessionStore: { Type: 'mongo' } })).toBe(false);
  });

  it('lets appsettings.json name it with "$schema", which the loader ignores', () => {
    expect(readJson(path.join(root, 'appsettings.json')).$schema).toBe('./config/appsettings.schema.json');
    expect(loadConfig({ cwd: root, env: {} }).listen.portStart).toBe(10201);
  });
});
