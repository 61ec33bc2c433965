#!/usr/bin/env node
// System calls one proxy process makes per operation, counted by `strace -c` (Debian's strace):
// N CONNECT cycles (connect, CONNECT, one GET, close) one after another, or with --http N
// keep-alive plain-HTTP requests on one connection. Run `npm run build` first.
//   node bench/syscalls.mjs [stickyport|squid|hop|raw|undici|DIST_MAIN] [--http]
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startSquid } from './lib/peers.mjs';
import { forkServer, stopAll } from './lib/procs.mjs';
import { startStickyport } from './lib/stickyport.mjs';
import { connectCycles, connectRequest, tunnel } from './lib/tunnels.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const which = process.argv[2] && !process.argv[2].startsWith('--') ? process.argv[2] : 'stickyport';
const httpMode = process.argv.includes('--http');
const N = httpMode ? 2_000 : 500;
const logDir = mkdtempSync(path.join(os.tmpdir(), 'stickyport-syscalls-'));
try {
  const origin = await forkServer(path.join(HERE, 'lib/origin.mjs'), [], { logDir, name: 'origin' });
  const provider = await forkServer(path.join(HERE, 'lib/provider.mjs'), [], { logDir, name: 'provider' });
  let port;
  let pid;
  if (which === 'squid') {
    ({ port, pid } = await startSquid({ providerPort: provider.port, user: 'customer-acme-session-squid', password: 'secret', logDir }));
  } else if (which === 'hop' || which === 'raw' || which === 'undici') {
    const file = { hop: 'lib/minimal-hop.mjs', raw: 'lib/raw-hop.mjs', undici: 'lib/undici-hop.mjs' }[which];
    ({ port, pid } = await forkServer(path.join(HERE, file), [String(provider.port), `customer-acme-session-${which}`, 'secret'], { logDir, name: which }));
  } else {
    if (which !== 'stickyport') process.env.BENCH_STICKYPORT_MAIN = path.resolve(which);
    const sp = await startStickyport({ count: 1, providerPort: provider.port, logDir, name: 'stickyport' });
    [port, pid] = [sp.portStart, sp.pid];
  }
  const originHost = `127.0.0.1:${origin.port}`;
  let one;
  if (httpMode) {
    const request = Buffer.from(`GET http://${originHost}/ HTTP/1.1\r\nHost: ${originHost}\r\n\r\n`);
    const socket = net.connect({ port, host: '127.0.0.1', noDelay: true });
    await new Promise((resolve) => socket.once('connect', resolve));
    one = () =>
      new Promise((resolve) => {
        let text = '';
        const onData = (chunk) => {
          text += chunk.toString('latin1');
          const end = text.indexOf('\r\n\r\n');
          if (end < 0 || text.length < end + 4 + Number(/content-length: (\d+)/i.exec(text)[1])) return;
          socket.off('data', onData);
          resolve(true);
        };
        socket.on('data', onData);
        socket.write(request);
      });
  } else {
    const connect = connectRequest(originHost);
    const request = Buffer.from(`GET / HTTP/1.1\r\nHost: ${originHost}\r\n\r\n`);
    await connectCycles({ port, connect, request, concurrency: 1, durationMs: 500 });
    one = async () => (await tunnel(port, connect, { request })).ok;
  }
  for (let i = 0; i < 100; i++) await one();
  const strace = spawn('strace', ['-f', '-c', '-o', path.join(logDir, 'strace.txt'), '-p', String(pid)]);
  // strace prints its attach notice on stderr once it traces.
  await new Promise((resolve) => strace.stderr.once('data', resolve));
  let done = 0;
  for (let i = 0; i < N; i++) if (await one()) done++;
  strace.kill('SIGINT');
  await new Promise((resolve) => strace.once('exit', resolve));
  process.stdout.write(`${which}: system calls per ${httpMode ? 'request' : 'CONNECT cycle'} over ${done}\n`);
  for (const line of readFileSync(path.join(logDir, 'strace.txt'), 'utf8').split('\n')) {
    const m = /^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(\d+\s+)?(\w+)$/.exec(line);
    if (m) process.stdout.write(`${(Number(m[1]) / done).toFixed(2).padStart(7)} ${m[3]}\n`);
  }
} finally {
  await stopAll();
}
