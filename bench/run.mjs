#!/usr/bin/env node
// `npm run bench`: stickyport against the provider alone, a minimal Node hop and bare
// proxy-chain, every one a separate process on 127.0.0.1. Prints one table and the PASS/MISS
// list of the targets, and writes bench/results/latest.json. `--smoke` (or BENCH_SMOKE=1) runs
// a tiny version in well under 30 s. `--tool=wrk|autocannon` (or BENCH_TOOL) picks the HTTP
// load tool; wrk is used when installed. `--mappings` (or BENCH_MAPPINGS=1) gives stickyport 2
// mappings and host rules. The README's Performance section reads the figures.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { httpLoad, pickTool, toolVersion } from './lib/load-http.mjs';
import { cpuMs, cpuSplitMs, forkServer, memory, noiseMeter, sleep, stop, stopAll } from './lib/procs.mjs';
import { startSquid, startTinyproxy, squidPath, tinyproxyPath } from './lib/peers.mjs';
import { ALL_CANDIDATES, buildTable, evaluateTargets, formatTargets, median } from './lib/report.mjs';
import { startStickyport, WITH_MAPPINGS } from './lib/stickyport.mjs';
import { bulk, connectCycles, connectRequest, openIdle, socks5Request, tunnel } from './lib/tunnels.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const lib = (name) => path.join(HERE, 'lib', name);
const SMOKE = process.env.BENCH_SMOKE === '1' || process.argv.includes('--smoke');
const TOOL_ARG = process.argv.find((a) => a.startsWith('--tool='))?.slice('--tool='.length) ?? process.env.BENCH_TOOL;

const FULL = {
  smoke: false,
  warmS: 1,
  httpS: 4,
  httpRounds: 3,
  latencyS: 3,
  latencyRounds: 2,
  cycleS: 3,
  cycleRounds: 3,
  bulkBytes: 2 ** 30,
  bulkRounds: 2,
  apiS: 3,
  apiRounds: 2,
  ports: 100,
  bindCounts: [1, 1_000, 10_000],
  idleTunnels: 5_000,
};
const TINY = {
  ...FULL,
  smoke: true,
  warmS: 0,
  httpS: 1,
  httpRounds: 1,
  latencyS: 1,
  latencyRounds: 1,
  cycleS: 1,
  cycleRounds: 1,
  bulkBytes: 2 ** 20,
  bulkRounds: 1,
  apiS: 1,
  apiRounds: 1,
  bindCounts: [200],
  idleTunnels: 50,
};
const cfg = SMOKE ? TINY : FULL;
const CONNS = 50;
const PASSWORD = 'secret';
const basic = (user) => `Basic ${Buffer.from(`${user}:${PASSWORD}`).toString('base64')}`;

const startedAt = performance.now();
/** Live bench processes (servers and proxies), for the noise meter. */
const benchPids = new Set();
const noise = () => noiseMeter(() => benchPids);
const say = (text) => process.stdout.write(`[${((performance.now() - startedAt) / 1000).toFixed(1).padStart(5)}s] ${text}\n`);

/** The candidates of this run, in table order (Squid and tinyproxy only when installed). */
let CANDIDATES = ALL_CANDIDATES;

/**
 * Runs `fn` for every candidate, `rounds` times, rotating the order each round; `tunnels`:
 * a tunnel load, which the CONNECT-only candidates (the raw hop) take part in too.
 */
async function interleaved(candidates, rounds, what, fn, { tunnels = false } = {}) {
  const keys = CANDIDATES.filter((k) => tunnels || !candidates[k].connectOnly);
  const runs = Object.fromEntries(keys.map((k) => [k, []]));
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < keys.length; i++) {
      const key = keys[(i + r) % keys.length];
      const measureNoise = noise();
      const result = await fn(candidates[key]);
      result.noise = measureNoise();
      runs[key].push(result);
      say(`${what} ${r + 1}/${rounds} ${candidates[key].label.padEnd(16)} ${result.summary}${noiseNote(result.noise)}`);
      await sleep(200);
    }
  }
  return runs;
}

function noiseNote(noise) {
  if (!noise) return '';
  const { otherPct, stealPct } = noise;
  return otherPct >= 5 || stealPct >= 5 ? `  (other load ${otherPct.toFixed(0)}%, steal ${stealPct.toFixed(0)}%)` : '';
}

/** CPU of the proxy process (none for provider only) and of the provider around `fn`. */
async function withCpu(candidate, providerPid, fn) {
  const proxy0 = candidate.pid ? cpuSplitMs(candidate.pid) : undefined;
  const provider0 = cpuMs(providerPid);
  const result = await fn();
  if (candidate.pid) {
    const [user, system] = cpuSplitMs(candidate.pid);
    result.cpuMs = user - proxy0[0] + (system - proxy0[1]);
    // The kernel's share (system calls, loopback TCP): the same work for every candidate that
    // moves the same bytes, so the part a proxy's own design decides is the rest.
    result.systemCpuMs = system - proxy0[1];
  }
  result.providerCpuMs = cpuMs(providerPid) - provider0;
  return result;
}

function proxyGet(port, url, host, auth) {
  return new Promise((resolve, reject) => {
    const headers = { host, ...(auth ? { 'proxy-authorization': auth } : {}) };
    const request = http.request({ host: '127.0.0.1', port, path: url, headers, agent: false }, (response) => {
      let body = '';
      response.setEncoding('utf8').on('data', (chunk) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode, body }));
    });
    request.on('error', reject);
    request.setTimeout(10_000, () => request.destroy(new Error('timed out')));
    request.end();
  });
}

/** One request and one tunnel through every candidate (and the session API) before measuring. */
async function sanityCheck(candidates, origin) {
  for (const c of Object.values(candidates)) {
    const answer = c.connectOnly ? { status: 200, body: 'bench origin' } : await proxyGet(c.port, origin.url, origin.host, c.auth);
    if (answer.status !== 200 || !answer.body.includes('bench origin')) {
      throw new Error(`${c.label}: GET ${origin.url} through port ${c.port} answered ${answer.status}: ${answer.body.slice(0, 200)}`);
    }
    const t = await tunnel(c.port, c.connect, { request: c.request });
    if (!t.ok) throw new Error(`${c.label}: CONNECT ${origin.host} + GET / through port ${c.port} failed`);
  }
  const api = await proxyGet(candidates.stickyport.port, 'http://portmapper/session/', 'portmapper');
  if (api.status !== 200 || !JSON.parse(api.body).session_id) throw new Error(`session API answered ${api.status}: ${api.body}`);
}

function checkHttp(result, label) {
  const bad = result.errors + result.non2xx;
  if (bad > Math.max(1, result.requests * 0.001)) {
    say(`WARNING ${label}: ${result.errors} socket errors, ${result.non2xx} non-2xx of ${result.requests} requests`);
  }
  return bad;
}

async function measureCandidates(candidates, provider, origin, tool) {
  const load = (c, connections, durationS, url = origin.url, host = origin.host) =>
    httpLoad(tool, { port: c.port, path: url, host, auth: c.auth, connections, durationS });

  if (cfg.warmS > 0) {
    for (const key of CANDIDATES) {
      if (!candidates[key].connectOnly) await load(candidates[key], CONNS, cfg.warmS);
      await connectCycles({ port: candidates[key].port, connect: candidates[key].connect, request: candidates[key].request, concurrency: CONNS, durationMs: 500 });
    }
    say('warm-up done');
  }

  const httpRuns = await interleaved(candidates, cfg.httpRounds, 'HTTP c50', async (c) => {
    const r = await withCpu(c, provider.pid, () => load(c, CONNS, cfg.httpS));
    r.bad = checkHttp(r, `${c.label} HTTP c50`);
    r.summary = `${r.rps.toFixed(0)} req/s, ${r.cpuMs === undefined ? '–' : ((r.cpuMs / r.requests) * 1000).toFixed(0)} CPU ms/1k`;
    return r;
  });
  const latencyRuns = await interleaved(candidates, cfg.latencyRounds, 'HTTP c1 ', async (c) => {
    const r = await load(c, 1, cfg.latencyS);
    r.bad = checkHttp(r, `${c.label} HTTP c1`);
    r.summary = `p50 ${r.p50Ms.toFixed(3)} ms, p99 ${r.p99Ms.toFixed(3)} ms`;
    return r;
  });
  const cycleRuns = await interleaved(candidates, cfg.cycleRounds, 'CONNECT ', async (c) => {
    const r = await withCpu(c, provider.pid, () =>
      connectCycles({ port: c.port, connect: c.connect, request: c.request, concurrency: CONNS, durationMs: cfg.cycleS * 1000 }),
    );
    if (r.failed > 0) say(`WARNING ${c.label} CONNECT cycles: ${r.failed} failed`);
    r.summary = `${r.cyclesPerS.toFixed(0)} cycles/s, ${r.failed} failed`;
    return r;
  }, { tunnels: true });
  const bulkRuns = await interleaved(candidates, cfg.bulkRounds, 'bulk    ', async (c) => {
    const r = await withCpu(c, provider.pid, () => bulk({ port: c.port, connect: c.connect, originHost: origin.host, bytes: cfg.bulkBytes }));
    r.summary = `${r.mbPerS.toFixed(0)} MB/s in ${r.seconds.toFixed(2)} s`;
    return r;
  }, { tunnels: true });

  const sp = candidates.stickyport;
  const apiRuns = [];
  for (let r = 0; r < cfg.apiRounds; r++) {
    const measureNoise = noise();
    const run = await withCpu(sp, provider.pid, () => load(sp, CONNS, cfg.apiS, 'http://portmapper/session/', 'portmapper'));
    run.noise = measureNoise();
    run.bad = checkHttp(run, 'session API');
    apiRuns.push(run);
    say(`session API ${r + 1}/${cfg.apiRounds} ${run.rps.toFixed(0)} req/s, ${((run.cpuMs / run.requests) * 1000).toFixed(0)} CPU ms/1k${noiseNote(run.noise)}`);
  }

  const out = {};
  for (const key of CANDIDATES) {
    const c = candidates[key];
    const hs = httpRuns[key];
    const ls = latencyRuns[key];
    const cs = cycleRuns[key];
    const bs = bulkRuns[key];
    out[key] = {
      label: c.label,
      http: hs && {
        best: Math.max(...hs.map((r) => r.rps)),
        median: median(hs.map((r) => r.rps)),
        cpuPer1k: c.pid ? median(hs.map((r) => (r.cpuMs / r.requests) * 1000)) : undefined,
        systemCpuPer1k: c.pid ? median(hs.map((r) => (r.systemCpuMs / r.requests) * 1000)) : undefined,
        providerCpuPer1k: median(hs.map((r) => (r.providerCpuMs / r.requests) * 1000)),
        runs: hs.map(({ summary, ...r }) => r),
      },
      latency: ls && { p50Ms: Math.min(...ls.map((r) => r.p50Ms)), p99Ms: Math.min(...ls.map((r) => r.p99Ms)), runs: ls.map(({ summary, ...r }) => r) },
      cycles: {
        best: Math.max(...cs.map((r) => r.cyclesPerS)),
        median: median(cs.map((r) => r.cyclesPerS)),
        cpuPer1k: c.pid ? median(cs.map((r) => (r.cpuMs / Math.max(1, r.cycles)) * 1000)) : undefined,
        systemCpuPer1k: c.pid ? median(cs.map((r) => (r.systemCpuMs / Math.max(1, r.cycles)) * 1000)) : undefined,
        runs: cs.map(({ summary, ...r }) => r),
      },
      bulk: {
        best: Math.max(...bs.map((r) => r.mbPerS)),
        cpuPerGb: c.pid ? median(bs.map((r) => r.cpuMs / (r.bytes / 1e9))) : undefined,
        runs: bs.map(({ summary, ...r }) => r),
      },
      peakRssMb: c.pid ? memory(c.pid).hwmMb : undefined,
    };
  }
  for (const key of CANDIDATES) if (out[key].latency) out[key].latency.addedMs = out[key].latency.p50Ms - out.provider.latency.p50Ms;
  out.provider.providerPeakRssMb = memory(provider.pid).hwmMb;
  const sessionApi = {
    best: Math.max(...apiRuns.map((r) => r.rps)),
    cpuPer1k: median(apiRuns.map((r) => (r.cpuMs / r.requests) * 1000)),
    runs: apiRuns.map(({ summary, ...r }) => r),
  };
  return { candidates: out, sessionApi };
}

/**
 * stickyport's SOCKS5 side beside its HTTP CONNECT side, alternating in the same rounds (so
 * machine noise hits both alike): connect cycles, and one tunnel carrying cfg.bulkBytes.
 */
async function measureSocks(sp, provider, origin) {
  const modes = [
    ['http', 'HTTP CONNECT', sp.connect],
    ['socks5', 'SOCKS5 CONNECT', socks5Request(origin.host)],
  ];
  const runs = { http: { cycles: [], bulk: [] }, socks5: { cycles: [], bulk: [] } };
  for (let r = 0; r < cfg.cycleRounds; r++) {
    for (let i = 0; i < modes.length; i++) {
      const [key, label, connect] = modes[(i + r) % modes.length];
      const measureNoise = noise();
      const result = await withCpu(sp, provider.pid, () =>
        connectCycles({ port: sp.port, connect, request: sp.request, concurrency: CONNS, durationMs: cfg.cycleS * 1000 }),
      );
      result.noise = measureNoise();
      runs[key].cycles.push(result);
      if (result.failed > 0) say(`WARNING stickyport ${label} cycles: ${result.failed} failed`);
      say(`${label.padEnd(14)} ${r + 1}/${cfg.cycleRounds} stickyport       ${result.cyclesPerS.toFixed(0)} cycles/s, ${((result.cpuMs / Math.max(1, result.cycles)) * 1000).toFixed(0)} CPU ms/1k${noiseNote(result.noise)}`);
      await sleep(200);
    }
  }
  for (let r = 0; r < cfg.bulkRounds; r++) {
    for (let i = 0; i < modes.length; i++) {
      const [key, label, connect] = modes[(i + r) % modes.length];
      const result = await withCpu(sp, provider.pid, () => bulk({ port: sp.port, connect, originHost: origin.host, bytes: cfg.bulkBytes }));
      runs[key].bulk.push(result);
      say(`${label.padEnd(14)} bulk ${r + 1}/${cfg.bulkRounds} stickyport  ${result.mbPerS.toFixed(0)} MB/s, ${(result.cpuMs / (result.bytes / 1e9)).toFixed(0)} CPU ms/GB`);
      await sleep(200);
    }
  }
  const summary = ({ cycles, bulk: bulks }) => ({
    cycles: {
      best: Math.max(...cycles.map((r) => r.cyclesPerS)),
      cpuPer1k: median(cycles.map((r) => (r.cpuMs / Math.max(1, r.cycles)) * 1000)),
      runs: cycles,
    },
    bulk: { best: Math.max(...bulks.map((r) => r.mbPerS)), cpuPerGb: median(bulks.map((r) => r.cpuMs / (r.bytes / 1e9))), runs: bulks },
  });
  return { http: summary(runs.http), socks5: summary(runs.socks5) };
}

/** Start-up time and RSS of stickyport binding `count` ports, each in a fresh process. */
async function measureBinding(providerPort, logDir) {
  const results = [];
  for (const count of cfg.bindCounts) {
    const sp = await startStickyport({ count, providerPort, logDir, name: `bind-${count}`, level: 'info' });
    const mem = memory(sp.pid);
    results.push({ ports: count, listeningMs: sp.listeningMs, verifiedMs: sp.readyMs, rssMb: mem.rssMb, hwmMb: mem.hwmMb });
    say(`bind ${count} ports: listening after ${sp.listeningMs.toFixed(0)} ms (last port verified at ${sp.readyMs.toFixed(0)} ms), RSS ${mem.rssMb.toFixed(1)} MB`);
    await stop(sp.child);
  }
  return results;
}

/** RSS stickyport adds holding `cfg.idleTunnels` open CONNECT tunnels spread over its ports. */
async function measureIdleTunnels(providerPort, logDir, origin) {
  const sp = await startStickyport({ count: cfg.ports, providerPort, logDir, name: 'stickyport-idle', level: 'warn' });
  try {
    const ports = Array.from({ length: cfg.ports }, (_, i) => sp.portStart + i);
    const connect = connectRequest(origin.host);
    // One tunnel per port first: sessions, routes and code paths exist before the baseline.
    const warm = await openIdle({ ports, connect, count: ports.length });
    for (const socket of warm.sockets) socket.destroy();
    await sleep(500);
    const before = memory(sp.pid);
    const t0 = performance.now();
    const { sockets, failed } = await openIdle({ ports, connect, count: cfg.idleTunnels });
    const openMs = performance.now() - t0;
    await sleep(1_000);
    const after = memory(sp.pid);
    const open = sockets.filter((s) => !s.destroyed).length;
    for (const socket of sockets) socket.destroy();
    const result = { requested: cfg.idleTunnels, open, failed, openMs, rssBeforeMb: before.rssMb, rssAfterMb: after.rssMb, deltaMb: after.rssMb - before.rssMb, perTunnelKb: ((after.rssMb - before.rssMb) * 1024) / Math.max(1, open) };
    say(`${open} idle tunnels (${failed} failed) opened in ${openMs.toFixed(0)} ms: RSS ${before.rssMb.toFixed(1)} -> ${after.rssMb.toFixed(1)} MB`);
    return result;
  } finally {
    await stop(sp.child);
  }
}

function providerStats(provider) {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(undefined), 2_000);
    provider.child.once('message', (message) => {
      clearTimeout(timer);
      resolve(message);
    });
    provider.child.send({ type: 'stats' });
  });
}

function summarizeSessions(stats) {
  if (!stats) return undefined;
  const fixed = { provideronly: 'provider', minimalhop: 'hop', rawhop: 'raw', bareproxychain: 'bare', squid: 'squid', tinyproxy: 'tinyproxy' };
  const out = { totals: stats.totals, byCandidate: {}, stickyportSessions: 0, stickyportRequests: 0 };
  for (const [session, count] of Object.entries(stats.sessions)) {
    if (fixed[session]) out.byCandidate[fixed[session]] = count;
    else {
      out.stickyportSessions++;
      out.stickyportRequests += count;
    }
  }
  return out;
}

function gitCommit() {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: HERE, encoding: 'utf8' }).trim();
  } catch {
    return undefined;
  }
}

async function main() {
  const logDir = mkdtempSync(path.join(os.tmpdir(), 'stickyport-bench-'));
  const tool = pickTool(TOOL_ARG);
  say(`stickyport bench${cfg.smoke ? ' (smoke)' : ''}: ${os.cpus().length} CPUs, node ${process.version}, HTTP load by ${toolVersion(tool)}; logs in ${logDir}`);
  if (WITH_MAPPINGS) say('stickyport runs with its ports split over 2 mappings and 5 host rules checked on every request (--mappings)');

  const originProc = await forkServer(lib('origin.mjs'), [], { logDir, name: 'origin' });
  const provider = await forkServer(lib('provider.mjs'), [], { logDir, name: 'provider' });
  const upstreamUser = (session) => `customer-acme-session-${session}`;
  const hop = await forkServer(lib('minimal-hop.mjs'), [String(provider.port), upstreamUser('minimalhop'), PASSWORD], { logDir, name: 'minimal-hop' });
  // Node's own floor for a CONNECT cycle: net sockets only, no HTTP server (what bounds that row).
  const raw = await forkServer(lib('raw-hop.mjs'), [String(provider.port), upstreamUser('rawhop'), PASSWORD], { logDir, name: 'raw-hop' });
  const bare = await forkServer(lib('bare-proxy-chain.mjs'), [`http://${upstreamUser('bareproxychain')}:${PASSWORD}@127.0.0.1:${provider.port}`], { logDir, name: 'bare-proxy-chain' });
  const sp = await startStickyport({ count: cfg.ports, providerPort: provider.port, logDir, name: 'stickyport' });
  // The peers a user would configure instead, when Debian's packages are installed.
  const peerArgs = (name) => ({ providerPort: provider.port, user: upstreamUser(name), password: PASSWORD, logDir });
  const squid = squidPath ? await startSquid(peerArgs('squid')) : undefined;
  const tinyproxy = tinyproxyPath ? await startTinyproxy(peerArgs('tinyproxy')) : undefined;
  if (!squid) say('squid not installed (apt-get install -y squid): Squid is left out of this run');
  if (!tinyproxy) say('tinyproxy not installed (apt-get install -y tinyproxy): tinyproxy is left out of this run');
  const peers = [squid, tinyproxy].filter(Boolean);
  for (const proc of [originProc, provider, hop, raw, bare, sp, ...peers]) benchPids.add(proc.pid);
  say(
    `origin :${originProc.port}, provider :${provider.port}, minimal hop :${hop.port}, raw Node hop :${raw.port}, bare proxy-chain :${bare.port}` +
      `${squid ? `, Squid :${squid.port}` : ''}${tinyproxy ? `, tinyproxy :${tinyproxy.port}` : ''}, stickyport :${sp.portStart}-${sp.portEnd} (pid ${sp.pid})`,
  );

  const origin = { host: `127.0.0.1:${originProc.port}`, url: `http://127.0.0.1:${originProc.port}/` };
  const request = Buffer.from(`GET / HTTP/1.1\r\nHost: ${origin.host}\r\n\r\n`);
  const candidate = (key, label, port, pid, auth, connectOnly = false) => ({ key, label, port, pid, auth, connectOnly, connect: connectRequest(origin.host, auth), request });
  const candidates = {
    provider: candidate('provider', 'provider only', provider.port, undefined, basic(upstreamUser('provideronly'))),
    hop: candidate('hop', 'minimal hop', hop.port, hop.pid),
    raw: candidate('raw', 'raw Node hop', raw.port, raw.pid, undefined, true),
    bare: candidate('bare', 'bare proxy-chain', bare.port, bare.pid),
    stickyport: candidate('stickyport', 'stickyport', sp.portStart, sp.pid),
    ...(squid ? { squid: candidate('squid', 'Squid', squid.port, squid.pid) } : {}),
    ...(tinyproxy ? { tinyproxy: candidate('tinyproxy', 'tinyproxy', tinyproxy.port, tinyproxy.pid) } : {}),
  };
  CANDIDATES = ALL_CANDIDATES.filter((key) => candidates[key]);
  await sanityCheck(candidates, origin);
  say('sanity check passed: every candidate answers HTTP and CONNECT through the provider');

  const measured = await measureCandidates(candidates, provider, origin, tool);
  const socks = await measureSocks(candidates.stickyport, provider, origin);
  for (const proc of [hop, raw, bare, sp, ...peers]) {
    await stop(proc.child);
    benchPids.delete(proc.pid);
  }
  const loadNoise = Object.values(measured.candidates).flatMap((c) => [...(c.http?.runs ?? []), ...(c.latency?.runs ?? []), ...c.cycles.runs, ...c.bulk.runs].map((r) => r.noise)).filter(Boolean);

  const results = {
    meta: {
      date: new Date().toISOString(),
      mode: cfg.smoke ? 'smoke' : 'full',
      commit: gitCommit(),
      node: process.version,
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model,
      tool: toolVersion(tool),
      clockTicksPerS: 100,
      mb: '10^6 bytes for throughput, 2^20 bytes for RSS',
      noise: loadNoise.length === 0 ? undefined : {
        medianOtherPct: median(loadNoise.map((n) => n.otherPct)),
        maxOtherPct: Math.max(...loadNoise.map((n) => n.otherPct)),
        maxStealPct: Math.max(...loadNoise.map((n) => n.stealPct)),
      },
    },
    config: cfg,
    candidates: measured.candidates,
    stickyport: { sessionApi: measured.sessionApi, socks },
  };
  results.stickyport.bind = await measureBinding(provider.port, logDir);
  results.stickyport.idle = await measureIdleTunnels(provider.port, logDir, origin);
  results.provider = summarizeSessions(await providerStats(provider));
  results.targets = evaluateTargets(results, cfg);
  results.meta.seconds = (performance.now() - startedAt) / 1000;

  const table = buildTable(results, cfg);
  results.table = table;
  const resultsDir = path.join(HERE, 'results');
  mkdirSync(resultsDir, { recursive: true });
  writeFileSync(path.join(resultsDir, 'latest.json'), `${JSON.stringify(results, null, 2)}\n`);

  process.stdout.write(`\n${table}\n\n`);
  process.stdout.write('Ratios are stickyport / X: above 1 is better for req/s, cycles/s and MB/s; below 1 is better for ms, CPU and RSS.\n');
  if (results.provider) {
    const p = results.provider;
    process.stdout.write(
      `Provider saw ${p.totals.http} HTTP requests and ${p.totals.connect} CONNECTs (${p.totals.rejected} rejected, ${p.totals.failed} failed); stickyport used ${p.stickyportSessions} sessions.\n`,
    );
  }
  const { noise: n } = results.meta;
  if (n) process.stdout.write(
    `Machine noise during the load windows: other processes used ${n.medianOtherPct.toFixed(0)}% of the machine (median; max ${n.maxOtherPct.toFixed(0)}%), steal max ${n.maxStealPct.toFixed(0)}%.\n`,
  );
  if (cfg.smoke) process.stdout.write('Smoke run: every figure comes from a ~1 s sample; the targets below are indicative only.\n');
  process.stdout.write(`\nTargets:\n${formatTargets(results.targets)}\n\nWrote bench/results/latest.json (${results.meta.seconds.toFixed(0)} s in all).\n`);
}

const onSignal = (signal) => {
  process.stderr.write(`\nbench: ${signal}, stopping children\n`);
  stopAll(300).finally(() => process.exit(130));
};
process.once('SIGINT', onSignal);
process.once('SIGTERM', onSignal);

try {
  await main();
} catch (error) {
  process.stderr.write(`bench failed: ${error?.stack ?? error}\n`);
  process.exitCode = 1;
} finally {
  await stopAll();
}
