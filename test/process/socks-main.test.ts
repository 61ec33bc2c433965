import { afterAll, beforeAll, expect, it } from 'vitest';
import { getThroughTunnel, request } from '../helpers/client.js';
import { describeWith, run } from '../helpers/external-clients.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { freePortRange } from '../helpers/ports.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { RawClient, greeting, request4, socks5Connect } from '../helpers/socks-client.js';
import { spawnStickyport, writeConfig, type SpawnedStickyport } from '../helpers/spawn-stickyport.js';

// The real entry point speaks SOCKS on its ports with no configuration: curl through it, a
// barrage of broken handshakes that it survives, its log lines, and a clean SIGTERM.
let origin: Origin;
let upstream: RecordingUpstream;
let proc: SpawnedStickyport;
let start: number;

beforeAll(async () => {
  origin = await startOrigin();
  upstream = await startRecordingUpstream('hunter2-secret');
  start = await freePortRange(2);
  proc = spawnStickyport([
    '--config',
    writeConfig({
      Listen: { PortRange: { Start: start, End: start + 1 }, HeadersTimeout: '1s' },
      Upstream: { Url: `http://customer-acme-session-{session}:hunter2-secret@127.0.0.1:${upstream.port}` },
      SessionAPI: { Enabled: true },
      Authentication: { Required: true, Username: 'scraper', Password: 'tr0ub4dor' },
    }),
  ]);
  await proc.waitForLine(/stickyport listening/);
});

afterAll(async () => {
  await proc?.stop('SIGKILL');
  await upstream?.close();
  await origin?.close();
});

describeWith('curl', 'node dist/main.js with SOCKS clients', () => {
  it('serves curl over SOCKS5 with a login, survives broken handshakes, logs refusals, and stops with 0', async () => {
    const ok = await run('curl', ['-sS', '--max-time', '15', '-x', `socks5h://scraper:tr0ub4dor@127.0.0.1:${start}`, `http://localhost:${origin.port}/`]);
    expect(ok.stdout, ok.stderr).toBe('hello');
    const seen = upstream.seen.at(-1)!;
    expect(seen).toMatchObject({ kind: 'connect', target: `localhost:${origin.port}`, password: 'hunter2-secret' });

    // Broken and refused handshakes, each on its own connection, none of them fatal.
    const broken = [Buffer.from([5]), Buffer.from([5, 0]), Buffer.from([5, 1, 0, 5, 9, 9, 9]), request4({ host: '127.0.0.1', port: 80 }, 'x'), Buffer.from([4, 2])];
    await Promise.all(
      broken.map(async (bytes) => {
        const client = await RawClient.connect(start);
        client.send(bytes);
        await client.untilClosed(3_000);
      }),
    );
    const refused = await socks5Connect(start + 1, { host: '127.0.0.1', port: origin.port }, { username: 'scraper', password: 'nope' });
    expect([refused.stage, refused.code]).toEqual(['login', 1]);

    // Still serving, both ports, both protocols.
    const again = await socks5Connect(start + 1, { host: '127.0.0.1', port: origin.port }, { username: 'scraper', password: 'tr0ub4dor' });
    expect(again.code).toBe(0);
    expect((await getThroughTunnel(again.client.socket, `127.0.0.1:${origin.port}`)).body).toBe('hello');
    again.client.destroy();
    const auth = { 'proxy-authorization': `Basic ${Buffer.from('scraper:tr0ub4dor').toString('base64')}` };
    expect((await request(start, `${origin.url}/`, { headers: auth })).body).toBe('hello');
    const client = await RawClient.connect(start);
    client.send(greeting(0));
    expect([...(await client.read(2))]).toEqual([5, 0xff]);
    client.destroy();

    expect(proc.child.exitCode).toBeNull();
    expect(await proc.stop('SIGTERM')).toBe(0);
    const log = proc.stdout.join('\n');
    expect(log).toContain('SOCKS5 login refused');
    expect(log).toContain('SOCKS4 cannot carry a password');
    expect(log).not.toMatch(/BUG|hunter2|tr0ub4dor|nope/);
    expect(proc.stderr.join('')).toBe('');
  });
});
