import { afterEach, expect, it } from 'vitest';
import { freePortRange } from '../helpers/ports.js';
import { startStickyport, type RunningProxy } from '../helpers/stickyport.js';

// The start-up line said clientAuth:false whenever the top-level Authentication.Required was
// off, even with every mapping requiring a login of its own.

const running: RunningProxy[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((proxy) => proxy.stop()));
});

async function startupLine(mappings: Array<{ required: boolean }>): Promise<{ clientAuth: unknown; mappings: Array<{ clientAuth: unknown }> }> {
  const first = await freePortRange(mappings.length);
  const proxy = await startStickyport(
    {
      Logging: { Level: 'info' },
      Mappings: mappings.map(({ required }, i) => ({
        Name: `m${i}`,
        Listen: { Port: first + i },
        Authentication: required ? { Required: true, Username: 'u', Password: 'p' } : { Required: false },
      })),
    },
    { startPort: first, portCount: mappings.length },
  );
  running.push(proxy);
  const line = proxy.logs.map((text) => JSON.parse(text) as { msg: string }).find((record) => record.msg === 'stickyport listening');
  return line as unknown as { clientAuth: unknown; mappings: Array<{ clientAuth: unknown }> };
}

it('says whether client logins are required per mapping, and overall', async () => {
  const all = await startupLine([{ required: true }, { required: true }]);
  expect(all.clientAuth).toBe(true);
  expect(all.mappings.map((mapping) => mapping.clientAuth)).toEqual([true, true]);
  const some = await startupLine([{ required: true }, { required: false }]);
  expect(some.clientAuth).toBe('some mappings');
  expect(some.mappings.map((mapping) => mapping.clientAuth)).toEqual([true, false]);
  expect((await startupLine([{ required: false }, { required: false }])).clientAuth).toBe(false);
});
