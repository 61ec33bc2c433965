import v8 from 'node:v8';
import vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logging/logger.js';
import { Mapping } from '../../src/ports/mapping.js';
import { load } from './config-fixtures.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

// A session still on settings from before an exit change takes a later password-only change
// (Mapping.withPasswordsOf). Its first version cached what it made per newer mapping with the
// mapping before it as part of the value: each entry held the mapping before, whose own entry
// held the one before that, so every mapping of every reload stayed alive (the heap grew by
// about 10 KB per reload while a session stayed on old settings: 3 000 reloads, +40 MB).

function mappingWith(userInfo: string): Mapping {
  const config = load({ config: { Upstream: { Url: `http://${userInfo}@127.0.0.1:9` } } });
  return new Mapping(config.mappings[0]!, {
    idLength: config.session.idLength,
    idAlphabet: config.session.idAlphabet,
    timeouts: { connectTimeoutMs: 1_000, responseTimeoutMs: 1_000, poolIdleTimeoutMs: 1_000 },
    cooldown: config.upstream.cooldown,
    log: createLogger('silent'),
  });
}

describe('Mapping.withPasswordsOf', () => {
  it.each([
    ['a session that takes each new password', 'Pw0', 'Pw200'],
    ['a session whose password none of them replaces (another account)', 'Other', 'Other'],
  ])('%s keeps none of the mappings of earlier reloads alive', async (_, own, sent) => {
    const running = mappingWith(`old-{session}:${own}`);
    let before = mappingWith('new-{session}:Pw0');
    const earlier: Array<WeakRef<Mapping>> = [];
    let current = running;
    for (let i = 1; i <= 200; i++) {
      const next = mappingWith(`new-{session}:Pw${i}`);
      current = current.withPasswordsOf(before, next) ?? current;
      earlier.push(new WeakRef(before));
      before = next;
    }
    expect(current.config.upstream.members[0]!.render({ session: 's', port: 1, lifetimeMs: 0, params: {} })).toMatchObject({ username: 'old-s', password: sent });
    for (let round = 0; round < 3; round++) {
      await new Promise((resolve) => setImmediate(resolve));
      gc();
    }
    expect(earlier.filter((ref) => ref.deref() !== undefined).length).toBeLessThan(5);
  });
});
