import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { apiJson, request } from '../helpers/client.js';
import { startOrigin } from '../helpers/origin.js';
import { freePortRange } from '../helpers/ports.js';
import { startRecordingUpstream } from '../helpers/recording-upstream.js';
import { spawnStickyport, writeConfig, type SpawnedStickyport } from '../helpers/spawn-stickyport.js';

const running: SpawnedStickyport[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((proc) => proc.stop('SIGKILL')));
});

function start(args: string[], env: NodeJS.ProcessEnv = {}): SpawnedStickyport {
  const proc = spawnStickyport(args, env);
  running.push(proc);
  return proc;
}

describe('node dist/main.js', () => {
  it('serves with --config, logs the upstream host without its password, and exits 0 on SIGTERM', async () => {
    const origin = await startOrigin();
    const upstream = await startRecordingUpstream('hunter2-secret');
    try {
      const start_ = await freePortRange(2);
      const proc = start([
        '--config',
        writeConfig({
          Listen: { PortRange: { Start: start_, End: start_ + 1 } },
          Upstream: { Url: `http://customer-acme-session-{session}:hunter2-secret@127.0.0.1:${upstream.port}` },
          SessionAPI: { Enabled: true },
        }),
      ]);
      const ready = JSON.parse(await proc.waitForLine(/stickyport listening/));
      expect(ready).toMatchObject({ ports: `${start_}-${start_ + 1}`, store: 'memory', level: 30 });
      expect(ready.upstream).toBe(`http://customer-acme-session-{session}:***@127.0.0.1:${upstream.port}`);

      expect((await request(start_, `${origin.url}/`)).body).toBe('hello');
      const session = await apiJson<{ session_id: string }>(start_ + 1, '/session/new');
      expect(upstream.seen[0]!.password).toBe('hunter2-secret');

      expect(await proc.stop('SIGTERM')).toBe(0);
      const log = proc.stdout.join('\n');
      expect(log).toContain('"msg":"stopped"');
      expect(log).toContain(`"sessionId":"${session.session_id}"`);
      expect(log).not.toContain('hunter2');
    } finally {
      await upstream.close();
      await origin.close();
    }
  });

  it('exits 2 naming the key when the configuration is bad', async () => {
    const proc = start(['--config', writeConfig({ Listen: { PortRange: { Start: 10300, End: 10201 } } })]);
    expect(await proc.exited).toBe(2);
    expect(proc.stderr.join('')).toContain('Listen.PortRange');
  });

  it('exits 2 on a bad environment variable, naming the key', async () => {
    const proc = start([], { STICKYPORT_STICKY_LIFETIME: 'forever' });
    expect(await proc.exited).toBe(2);
    expect(proc.stderr.join('')).toContain('Listen.StickyProxyLifetime');
  });

  it('exits 1 naming the busy port, leaving no port of the range bound', async () => {
    const first = await freePortRange(3);
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(first + 1, '127.0.0.1', resolve));
    try {
      const proc = start(['--config', writeConfig({ Listen: { PortRange: { Start: first, End: first + 2 } } })]);
      expect(await proc.exited).toBe(1);
      expect(proc.stderr.join('')).toContain(`${first + 1} (EADDRINUSE)`);
    } finally {
      blocker.close();
    }
  });

  it('warns when the upstream URL has no {session} placeholder', async () => {
    const first = await freePortRange(1);
    const proc = start(['--config', writeConfig({
      Listen: { PortRange: { Start: first, End: first } },
      Upstream: { Url: 'http://plain:pw@127.0.0.1:9' },
    })]);
    const warning = JSON.parse(await proc.waitForLine(/"level":40/));
    expect(warning.msg).toContain('{session}');
  });
});
