#!/usr/bin/env node
// Profiles ONE proxy process under one kind of bench load and prints its top self-time
// functions. Run `npm run build` first.
//   node bench/profile.mjs [http|connect|socks|bulk|api|all|http,bulk,...] [--target=stickyport|bare|hop|undici|raw] [--seconds=8] [--settings=FILE] [--node-flags=--a,--b]
// --settings: a JSON file over stickyport's bench configuration (as bench/ab.mjs takes), stdout to /dev/null.
// The proxy runs with `node --cpu-prof`; the .cpuprofile stays in the printed folder (open it in
// Chrome DevTools > Performance, or VS Code). With several loads, each one's samples are
// summarised on their own (V8 sample timestamps and process.hrtime share the monotonic clock).
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { httpLoad, pickTool } from './lib/load-http.mjs';
import { forkServer, spawnTracked, stop, stopAll, waitForPort } from './lib/procs.mjs';
import { startStickyport } from './lib/stickyport.mjs';
import { bulk, connectCycles, connectRequest, socks5Request } from './lib/tunnels.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const arg = (name, fallback) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
const load = process.argv[2] && !process.argv[2].startsWith('--') ? process.argv[2] : 'all';
const target = arg('target', 'stickyport');
const seconds = Number(arg('seconds', '8'));
const TOP = Number(arg('top', '30'));

/** Self time per function (and per source file) from a .cpuprofile. */
export function summarize(profile, window = [0, Infinity]) {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const self = new Map();
  let at = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i];
    at += profile.timeDeltas[i] ?? 0;
    if (at < window[0] || at > window[1]) continue;
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const functions = new Map();
  const files = new Map();
  let total = 0;
  for (const [id, us] of self) {
    const { functionName, url, lineNumber } = byId.get(id).callFrame;
    const file = url ? url.replace(/^file:\/\/.*\/node_modules\//, '').replace(/^file:\/\/.*\/dist\//, 'dist/') : '(native/vm)';
    if (functionName === '(idle)') continue;
    const key = `${functionName || '(anonymous)'}  ${file}${url ? `:${lineNumber + 1}` : ''}`;
    functions.set(key, (functions.get(key) ?? 0) + us);
    const bucket = file.startsWith('node:') || file.startsWith('(') ? file : file.split('/').slice(0, file.startsWith('dist/') ? 2 : 1).join('/');
    files.set(bucket, (files.get(bucket) ?? 0) + us);
    total += us;
  }
  const top = (map, n) => [...map].sort((a, b) => b[1] - a[1]).slice(0, n).map(([name, us]) => ({ name, ms: us / 1000, pct: (100 * us) / total }));
  return { totalMs: total / 1000, functions: top(functions, TOP), files: top(files, 20) };
}

async function main() {
  const logDir = mkdtempSync(path.join(os.tmpdir(), 'stickyport-profile-'));
  const tool = pickTool(process.env.BENCH_TOOL);
  const origin = await forkServer(path.join(HERE, 'lib/origin.mjs'), [], { logDir, name: 'origin' });
  const provider = await forkServer(path.join(HERE, 'lib/provider.mjs'), [], { logDir, name: 'provider' });
  // --node-flags=--a,--b: Node flags for the profiled process (e.g. --max-semi-space-size=64).
  const nodeFlags = arg('node-flags', '').split(',').filter(Boolean);
  const cpuProf = ['--cpu-prof', `--cpu-prof-dir=${logDir}`, ...nodeFlags];
  let proxy;
  if (target === 'stickyport') {
    const settingsFile = arg('settings', undefined);
    const settings = settingsFile ? JSON.parse(readFileSync(settingsFile, 'utf8')) : undefined;
    proxy = await startStickyport({ count: 100, providerPort: provider.port, logDir, name: 'stickyport', extraArgs: cpuProf, settings });
    proxy.port = proxy.portStart;
  } else {
    const scripts = { bare: 'bare-proxy-chain.mjs', hop: 'minimal-hop.mjs', undici: 'undici-hop.mjs', raw: 'raw-hop.mjs' };
    const script = scripts[target];
    if (!script) throw new Error(`--target must be stickyport, ${Object.keys(scripts).join(', ')}`);
    const args = target === 'bare' ? [`http://customer-acme-session-bare:secret@127.0.0.1:${provider.port}`] : [String(provider.port), `customer-acme-session-${target}`, 'secret'];
    // fork() cannot pass --cpu-prof through IPC readiness here, so spawn and wait for the port instead.
    const child = spawnTracked(process.execPath, [...cpuProf, path.join(HERE, 'lib/profile-target.mjs'), script, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    const port = await new Promise((resolve) => child.stdout.once('data', (d) => resolve(Number(String(d).trim()))));
    await waitForPort(port, { child });
    proxy = { child, port };
  }
  const originHost = `127.0.0.1:${origin.port}`;
  const connect = connectRequest(originHost);
  const request = Buffer.from(`GET / HTTP/1.1\r\nHost: ${originHost}\r\n\r\n`);
  const kinds = load === 'all' ? ['http', 'connect', 'bulk', 'api'] : load.split(',');
  const windows = [];
  const nowUs = () => Number(process.hrtime.bigint() / 1000n);
  for (const kind of kinds) {
    const from = nowUs();
    let done;
    if (kind === 'http') done = await httpLoad(tool, { port: proxy.port, path: `http://${originHost}/`, host: originHost, connections: 50, durationS: seconds });
    if (kind === 'api') done = await httpLoad(tool, { port: proxy.port, path: 'http://portmapper/session/', host: 'portmapper', connections: 50, durationS: seconds });
    if (kind === 'connect') done = await connectCycles({ port: proxy.port, connect, request, concurrency: 50, durationMs: seconds * 1000 });
    if (kind === 'socks') done = await connectCycles({ port: proxy.port, connect: socks5Request(originHost), request, concurrency: 50, durationMs: seconds * 1000 });
    if (kind === 'bulk') for (let i = 0; i < 4; i++) await bulk({ port: proxy.port, connect, originHost, bytes: 2 ** 30 });
    // Requests or cycles served: the per-operation column compares candidates at different rates.
    windows.push([kind, [from, nowUs()], done?.requests ?? done?.cycles]);
    process.stdout.write(`${kind} load done\n`);
  }
  await stop(proxy.child, 5_000);
  const file = readdirSync(logDir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) throw new Error(`no .cpuprofile written in ${logDir}`);
  const profile = JSON.parse(readFileSync(path.join(logDir, file), 'utf8'));
  process.stdout.write(`\nprofile: ${path.join(logDir, file)}\n`);
  for (const [kind, window, operations] of windows) {
    const summary = summarize(profile, window);
    const perOp = (ms) => (operations ? `${((ms * 1000) / operations).toFixed(2).padStart(7)} µs/op  ` : '');
    const counted = operations ? `, ${operations} operations, ${((summary.totalMs * 1000) / operations).toFixed(1)} µs each` : '';
    process.stdout.write(`\n== ${target} under ${kind} load: ${summary.totalMs.toFixed(0)} ms busy (idle excluded)${counted}\nTop self time by function:\n`);
    for (const f of summary.functions) process.stdout.write(`${f.pct.toFixed(1).padStart(5)}%  ${f.ms.toFixed(0).padStart(6)} ms  ${perOp(f.ms)}${f.name}\n`);
    process.stdout.write('By module:\n');
    for (const f of summary.files) process.stdout.write(`${f.pct.toFixed(1).padStart(5)}%  ${f.ms.toFixed(0).padStart(6)} ms  ${perOp(f.ms)}${f.name}\n`);
  }
}

try {
  await main();
} catch (error) {
  process.stderr.write(`profile failed: ${error?.stack ?? error}\n`);
  process.exitCode = 1;
} finally {
  await stopAll();
}
