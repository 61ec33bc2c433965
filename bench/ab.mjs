#!/usr/bin/env node
// A/B of two stickyport builds on the same machine, in one run, interleaved: plain HTTP
// (50 keep-alive clients, and p50 at 1 client) and CONNECT cycles, with the proxy's CPU per
// request. For changes on the hot path, where run-to-run noise hides a few per cent.
//   node bench/ab.mjs A_DIST_MAIN B_DIST_MAIN [--rounds=4] [--seconds=4]
// e.g. `cp -r dist /tmp/dist-before` before the change, then
//   node bench/ab.mjs /tmp/dist-before/main.js dist/main.js
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { httpLoad, pickTool } from './lib/load-http.mjs';
import { cpuMs, forkServer, freeRange, sleep, spawnTracked, stopAll, waitForPort } from './lib/procs.mjs';
import { median } from './lib/report.mjs';
import { connectCycles, connectRequest } from './lib/tunnels.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const arg = (name, fallback) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
const mains = process.argv.slice(2).filter((a) => !a.startsWith('--'));
if (mains.length !== 2) {
  process.stderr.write('usage: node bench/ab.mjs A_MAIN B_MAIN [--rounds=4] [--seconds=4]\n');
  process.exit(2);
}
const rounds = Number(arg('rounds', '4'));
const seconds = Number(arg('seconds', '4'));

async function startOne(main, logDir, name, providerPort, taken) {
  const [start, end] = freeRange(100, taken);
  const file = path.join(logDir, `${name}.json`);
  writeFileSync(file, JSON.stringify({
    Listen: { Host: '127.0.0.1', PortRange: { Start: start, End: end }, IdleTimeout: '120s' },
    Upstream: { Url: `http://customer-acme-session-{session}:secret@127.0.0.1:${providerPort}` },
    SessionAPI: { Enabled: true, Domain: 'portmapper' },
    Logging: { Level: 'warn' },
  }));
  const child = spawnTracked(process.execPath, [path.resolve(main), '--config', file], { cwd: logDir, stdio: ['ignore', 'ignore', 'inherit'] });
  await waitForPort(end, { child });
  return { name, child, pid: child.pid, port: start, range: [start, end] };
}

async function main() {
  const logDir = mkdtempSync(path.join(os.tmpdir(), 'stickyport-ab-'));
  const tool = pickTool(process.env.BENCH_TOOL);
  const origin = await forkServer(path.join(HERE, 'lib/origin.mjs'), [], { logDir, name: 'origin' });
  const provider = await forkServer(path.join(HERE, 'lib/provider.mjs'), [], { logDir, name: 'provider' });
  const a = await startOne(mains[0], logDir, 'A', provider.port, []);
  const b = await startOne(mains[1], logDir, 'B', provider.port, [a.range]);
  const host = `127.0.0.1:${origin.port}`;
  const connect = connectRequest(host);
  const request = Buffer.from(`GET / HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
  const results = { A: { http: [], cpuHttp: [], p50: [], cycles: [], cpuCycles: [] }, B: { http: [], cpuHttp: [], p50: [], cycles: [], cpuCycles: [] } };
  for (const p of [a, b]) await httpLoad(tool, { port: p.port, path: `http://${host}/`, host, connections: 50, durationS: 1 });
  for (let r = 0; r < rounds; r++) {
    for (const p of r % 2 ? [b, a] : [a, b]) {
      const res = results[p.name];
      let cpu0 = cpuMs(p.pid);
      const h = await httpLoad(tool, { port: p.port, path: `http://${host}/`, host, connections: 50, durationS: seconds });
      res.http.push(h.rps);
      res.cpuHttp.push(((cpuMs(p.pid) - cpu0) / h.requests) * 1000);
      const l = await httpLoad(tool, { port: p.port, path: `http://${host}/`, host, connections: 1, durationS: Math.max(1, seconds / 2) });
      res.p50.push(l.p50Ms);
      cpu0 = cpuMs(p.pid);
      const c = await connectCycles({ port: p.port, connect, request, concurrency: 50, durationMs: seconds * 1000 });
      res.cycles.push(c.cyclesPerS);
      res.cpuCycles.push(((cpuMs(p.pid) - cpu0) / Math.max(1, c.cycles)) * 1000);
      process.stdout.write(`round ${r + 1} ${p.name}: ${h.rps.toFixed(0)} req/s, ${res.cpuHttp.at(-1).toFixed(1)} CPU ms/1k req, p50 ${l.p50Ms.toFixed(3)} ms, ${c.cyclesPerS.toFixed(0)} cycles/s, ${res.cpuCycles.at(-1).toFixed(1)} CPU ms/1k cycles\n`);
      await sleep(200);
    }
  }
  process.stdout.write(`\nmedians over ${rounds} rounds (A = ${mains[0]}, B = ${mains[1]}):\n`);
  for (const key of ['http', 'cpuHttp', 'p50', 'cycles', 'cpuCycles']) {
    const ma = median(results.A[key]);
    const mb = median(results.B[key]);
    process.stdout.write(`${key.padEnd(10)} A ${ma.toFixed(3).padStart(10)}  B ${mb.toFixed(3).padStart(10)}  B/A ${(mb / ma).toFixed(3)}\n`);
  }
}

try {
  await main();
} catch (error) {
  process.stderr.write(`ab failed: ${error?.stack ?? error}\n`);
  process.exitCode = 1;
} finally {
  await stopAll();
}
