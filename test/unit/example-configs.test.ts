import { readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';

const folder = path.resolve(import.meta.dirname, '../../config');
const examples = readdirSync(folder).filter((name) => name.endsWith('.json') && !name.endsWith('.schema.json'));

describe('example configurations in config/', () => {
  it('cover every upstream scheme and the empty-domain session API', () => {
    expect(examples).toEqual(expect.arrayContaining([
      'http-upstream.json', 'https-upstream.json', 'socks4-upstream.json', 'socks5-upstream.json',
      'direct.json', 'session-api-empty-domain.json',
    ]));
  });

  it.each(examples)('%s passes validation', (name) => {
    const config = loadConfig({ cwd: folder, env: {}, configPath: name });
    expect(config.sources.at(-1)).toBe(path.join(folder, name));
  });

  it('the shipped appsettings.json is the embedded default: 10201-10300, direct, memory, API on', () => {
    const config = loadConfig({ cwd: path.resolve(folder, '..'), env: {} });
    expect(config.listen).toMatchObject({ host: '127.0.0.1', portStart: 10201, portEnd: 10300 });
    expect(config.upstream.template).toBeUndefined();
    expect(config.store.type).toBe('memory');
    expect(config.sessionApi).toMatchObject({ enabled: true, domain: 'portmapper' });
    expect(config.admin).toEqual({ enabled: true, host: '127.0.0.1', port: 10200, portAuto: true, token: '' });
    expect(config.logging.requests).toBe(true);
  });

  it('public-with-auth.json over the shipped appsettings.json (the Docker image) keeps the admin server on loopback', () => {
    const config = loadConfig({ cwd: path.resolve(folder, '..'), env: {}, configPath: 'config/public-with-auth.json' });
    expect(config.listen.host).toBe('0.0.0.0');
    expect(config.admin).toMatchObject({ enabled: true, host: '127.0.0.1', port: 10200 });
  });
});
