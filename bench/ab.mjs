#!/usr/bin/env node
// A/B of stickyport builds on CPU per plain-HTTP request (or, with --connect, per CONNECT
// cycle: connect, CONNECT, one GET through the tunnel, close), the steady figure (PERF.md): each
// build as its own process chained to the bench provider, measured in interleaved rounds under
// the same load, optionally beside Squid. For trying a change before a full `npm run bench`.
//   node bench/ab.mjs [--rounds=3] [--seconds=4] [--pin] [--together] [--squid] [--hop] [--undici-hop] [--raw-hop] [--connect] [--mappings] [--warm-http=S] [--warm-connect=S] DIST_MAIN_A[%PORTS][+mappings][#NODE_FLAGS][@SETTINGS.json] [DIST_MAIN_B ...]
// (--mappings: each build with 2 mappings and host rules, see bench/lib/stickyport.mjs; or one
// build only, written DIST_MAIN+mappings, beside the same build without; @SETTINGS.json: a
// settings file over the bench's own, e.g. bench/settings/observe-on.json or bench/settings/rules-not-firing.json)
// e.g. cp -r dist /tmp/dist-before; (change, npm run build); node bench/ab.mjs /tmp/dist-before/main.js dist/main.js
// A candidate's SETTINGS.json goes over the bench's configuration, and its stdout to /dev/null:
//   node bench/ab.mjs dist/main.js@bench/settings/observe-off.json dist/main.js@bench/settings/observe-on.json
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { httpLoad, pickTool } from './lib/load-http.mjs';
import { startSquid, squidPath } from './lib/peers.mjs';
import { cpuSplitMs, forkServer, sleep, stopAll } from './lib/procs.mjs';
import { startStickyport } from './lib/stickyport.mjs';
import { connectCycles, connectRequest } from './lib/tunnels.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const arg = (name, fallback) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
const rounds = Number(arg('rounds', 3));
const seconds = Number(arg('seconds', 4));
const mains = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const connectMode = process.argv.includes('--connect');
if (mains.length === 0) mains.push(path.join(HERE, '../dist/main.js'));

const logDir = mkdtempSync(path.join(os.tmpdir(), 'stickyport-ab-'));
const tool = pickTool();
// --pin: the load tool, origin and provider on CPU 0, each candidate alone on CPU 1. Nothing
// else then competes for the measured process's core, which takes most of the round-to-round
// spread out of CPU per request (two builds' difference becomes visible at a few per cent);
// throughput is then the load side's, not the candidate's.
const pin = process.argv.includes('--pin');
const pinTo = (pid, cpu) => execFileSync('taskset', ['-a', '-pc', String(cpu), String(pid)], { stdio: 'ignore' });
if (pin) pinTo(process.pid, 0);
try {
  const origin = await forkServer(path.join(HERE, 'lib/origin.mjs'), [], { logDir, name: 'origin' });
  const provider = await forkServer(path.join(HERE, 'lib/provider.mjs'), [], { logDir, name: 'provider' });
  const originHost = `127.0.0.1:${origin.port}`;
  const candidates = [];
  for (const [i, candidate] of mains.entries()) {
    const [withFlags, settingsFile] = candidate.split('@');
    // DIST_MAIN#--flag,--flag: Node flags for that candidate (e.g. #--max-semi-space-size=64).
    const [spec, flagList] = withFlags.split('#');
    const extraArgs = flagList ? flagList.split(',') : [];
    const withMappings = spec.endsWith('+mappings');
    const main = withMappings ? spec.slice(0, -'+mappings'.length) : spec;
    const settings = settingsFile ? JSON.parse(readFileSync(settingsFile, 'utf8')) : undefined;
    const options = withMappings ? { mappings: true } : {};
    // DIST_MAIN%N: N ports instead of 10 (the full bench runs 100).
    const [file, portCount] = main.split('%');
    process.env.BENCH_STICKYPORT_MAIN = path.resolve(file);
    const count = Number(portCount ?? 10);
    const sp = await startStickyport({ count, providerPort: provider.port, logDir, name: `ab-${i}`, taken: candidates.map((c) => [c.port - 1, c.port + c.count]), settings, extraArgs, ...options });
    candidates.push({ label: `${i}: ${candidate}`, port: sp.portStart, pid: sp.pid, count });
  }
  if (process.argv.includes('--hop')) {
    const hop = await forkServer(path.join(HERE, 'lib/minimal-hop.mjs'), [String(provider.port), 'customer-acme-session-hop', 'secret'], { logDir, name: 'hop' });
    candidates.push({ label: 'minimal hop', port: hop.port, pid: hop.pid });
  }
  // --undici-hop (plain HTTP): http.Server + one undici Pool, stickyport's engine with no policy.
  if (process.argv.includes('--undici-hop')) {
    if (connectMode) throw new Error('--undici-hop serves plain HTTP only: drop --connect');
    const hop = await forkServer(path.join(HERE, 'lib/undici-hop.mjs'), [String(provider.port), 'customer-acme-session-undici', 'secret'], { logDir, name: 'undici-hop' });
    candidates.push({ label: 'undici hop', port: hop.port, pid: hop.pid });
  }
  // --raw-hop (with --connect): the floor of any Node CONNECT proxy, no HTTP server at all.
  if (process.argv.includes('--raw-hop')) {
    if (!connectMode) throw new Error('--raw-hop serves CONNECT only: add --connect');
    const raw = await forkServer(path.join(HERE, 'lib/raw-hop.mjs'), [String(provider.port), 'customer-acme-session-raw', 'secret'], { logDir, name: 'raw-hop' });
    candidates.push({ label: 'raw Node hop (net only)', port: raw.port, pid: raw.pid });
  }
  if (process.argv.includes('--squid') && squidPath) {
    const squid = await startSquid({ providerPort: provider.port, user: 'customer-acme-session-squid', password: 'secret', logDir });
    candidates.push({ label: 'Squid', port: squid.port, pid: squid.pid });
  }
  if (pin) for (const c of candidates) pinTo(c.pid, 1);
  const results = new Map(candidates.map((c) => [c, []]));
  const connect = connectRequest(originHost);
  const request = Buffer.from(`GET / HTTP/1.1\r\nHost: ${originHost}\r\n\r\n`);
  // One measured window: [operations done, per second].
  const measure = async (c, durationS) => {
    if (connectMode) {
      const r = await connectCycles({ port: c.port, connect, request, concurrency: 50, durationMs: durationS * 1000 });
      return [r.cycles, r.cyclesPerS];
    }
    const r = await httpLoad(tool, { port: c.port, path: `http://${originHost}/`, host: originHost, connections: 50, durationS });
    return [r.requests, r.rps];
  };
  for (const c of candidates) await measure(c, 1);
  // --warm-http=N: N seconds of plain-HTTP load on every candidate first (the full bench runs
  // its HTTP rounds before its CONNECT rounds).
  const warmHttp = Number(arg('warm-http', 0));
  if (warmHttp > 0) {
    for (const c of candidates) await httpLoad(tool, { port: c.port, path: `http://${originHost}/`, host: originHost, connections: 50, durationS: warmHttp });
  }
  // --warm-connect=S: S seconds of CONNECT cycles on every candidate first (the full bench's
  // warm-up runs half a second of them before its HTTP rounds).
  const warmConnect = Number(arg('warm-connect', 0));
  if (warmConnect > 0) {
    for (const c of candidates) await connectCycles({ port: c.port, connect, request, concurrency: 50, durationMs: warmConnect * 1000 });
  }
  // One candidate's window: its CPU (user, system) over the operations it served.
  const measured = async (c, r) => {
    const [user0, sys0] = cpuSplitMs(c.pid);
    const [done, perS] = await measure(c, seconds);
    const [user1, sys1] = cpuSplitMs(c.pid);
    const userK = ((user1 - user0) / done) * 1000;
    const sysK = ((sys1 - sys0) / done) * 1000;
    const perK = userK + sysK;
    results.get(c).push({ perK, perS, userK, sysK });
    process.stdout.write(`round ${r + 1} ${c.label}: ${perK.toFixed(1)} CPU ms/1k (user ${userK.toFixed(1)}, system ${sysK.toFixed(1)}), ${perS.toFixed(0)}/s\n`);
  };
  // --together: every candidate under load in the same window (a load tool each), so that the
  // machine's drift over minutes, which moves one build by 20-40 % between rounds here, hits all
  // of them alike; they share the two cores, so compare the ratios, not the absolute figures.
  const together = process.argv.includes('--together');
  for (let r = 0; r < rounds; r++) {
    if (together) {
      // The load tools start in a rotated order each round: the candidate whose load started
      // first came out 8-9 % cheaper whichever build it was (two builds in both orders).
      const order = candidates.map((_, i) => candidates[(i + r) % candidates.length]);
      await Promise.all(order.map((c) => measured(c, r)));
    } else {
      for (let i = 0; i < candidates.length; i++) await measured(candidates[(i + r) % candidates.length], r);
    }
    await sleep(200);
  }
  process.stdout.write(`\nmedian CPU ms per 1 000 ${connectMode ? 'CONNECT cycles' : 'requests'}:\n`);
  const median = (values) => values.slice().sort((a, b) => a - b)[values.length >> 1];
  for (const [c, runs] of results) {
    const m = (key) => median(runs.map((r) => r[key])).toFixed(1);
    process.stdout.write(`  ${m('perK')}  ${c.label}  (user ${m('userK')}, system ${m('sysK')})\n`);
  }
  // Each round measures every candidate back to back: the ratio within a round sees the same
  // neighbours on a shared machine, so its median is steadier than a ratio of medians.
  const [base, ...others] = candidates;
  if (others.length > 0) process.stdout.write(`\nmedian of the per-round ratios to ${base.label}:\n`);
  for (const c of others) {
    const ratios = results.get(c).map((r, round) => r.perK / results.get(base)[round].perK);
    process.stdout.write(`  ${median(ratios).toFixed(3)}x  ${c.label}\n`);
  }
} finally {
  await stopAll();
}
