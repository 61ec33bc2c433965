// Regression (adversarial pass): one connection sent a request to a slow target, then pipelined
// small GETs behind it and read nothing. Node's server parses every pipelined request as its
// bytes arrive (it stops reading only when written answers back up, and none were written),
// and each waited its turn as a parsed request, an answer object and a promise: 200 000 of them
// (12 MB sent) took 685 MB of heap, 1.27 million killed the process (JavaScript heap out of
// memory), and every port with it. A connection now has at most 64 requests waiting; past
// that it is not read until they are answered, and the rest waits in TCP's buffers.
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { request } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { freePortRange } from '../helpers/ports.js';
import { spawnStickyport, writeConfig, type SpawnedStickyport } from '../helpers/spawn-stickyport.js';

const PIPELINED = 60_000;
let proc: SpawnedStickyport | undefined;
let origin: Origin | undefined;
let flood: net.Socket | undefined;

afterAll(async () => {
  flood?.destroy();
  await proc?.stop('SIGKILL');
  await origin?.close();
});

/** The process's resident memory now (VmRSS) or at its peak (VmHWM), in MB. */
const memoryMb = (pid: number, field: 'VmRSS' | 'VmHWM'): number =>
  Number(new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

describe('one connection pipelining 60 000 requests behind a slow one, reading nothing', () => {
  it('leaves memory bounded and the other port serving, then answers every request, in order', async () => {
    origin = await startOrigin();
    const start = await freePortRange(2);
    proc = spawnStickyport(['--config', writeConfig({ Listen: { PortRange: { Start: start, End: start + 1 } }, SessionAPI: { Enabled: true } })]);
    await proc.waitForLine(/stickyport listening/);
    const pid = proc.child.pid!;
    const before = memoryMb(pid, 'VmRSS');

    flood = net.connect(start, '127.0.0.1');
    flood.on('error', () => undefined);
    flood.pause();
    await new Promise((resolve) => flood!.once('connect', resolve));
    // The first answer holds every other one back for 1.5 s; the rest are session API calls,
    // answered in-process, so that reading them all back takes a few seconds.
    flood.write(`GET ${origin.url}/delay/1500 HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\n\r\n`);
    const call = 'GET http://portmapper/session/ HTTP/1.1\r\nHost: portmapper\r\n\r\n';
    const batch = call.repeat(1_000);
    let sent = 0;
    // Written as fast as the proxy (or the kernel's buffers) take it, for at most 1 s.
    const until = Date.now() + 1_000;
    while (sent < PIPELINED && Date.now() < until) {
      sent += 1_000;
      if (!flood.write(batch)) {
        await new Promise((resolve) => {
          const timer = setTimeout(resolve, Math.max(1, until - Date.now()));
          flood!.once('drain', () => {
            clearTimeout(timer);
            resolve(undefined);
          });
        });
      }
    }
    const other = await request(start + 1, 'http://portmapper/session/');
    expect(other.status).toBe(200);

    // One answer per request, in order: the slow one's 'late', then the API's.
    let text = '';
    let answers = 0;
    const counted = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${answers} of ${sent + 1} answers within 30 s`)), 30_000);
      flood!.on('data', (chunk: Buffer) => {
        text += chunk.toString('latin1');
        const heads = text.split('HTTP/1.1 ');
        answers += heads.length - 1;
        // Keep the tail, which may hold a head cut in two.
        text = heads[heads.length - 1]!.slice(-20);
        if (answers >= sent + 1) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    flood.resume();
    await counted;
    expect(answers).toBe(sent + 1);
    // The peak over the whole flood: 60 000 requests parsed at once took over 200 MB.
    expect(memoryMb(pid, 'VmHWM') - before).toBeLessThan(80);
    expect(proc.child.exitCode).toBeNull();
  }, 60_000);
});
