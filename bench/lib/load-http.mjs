// Plain-HTTP load through a proxy: wrk when installed (PERF.md's tool), autocannon otherwise.
// Both run as their own process and report the same BENCH_JSON shape.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { spawnTracked } from './procs.mjs';

const LUA = fileURLToPath(new URL('../wrk/proxy.lua', import.meta.url));
const AUTOCANNON = fileURLToPath(new URL('./autocannon-run.mjs', import.meta.url));

/** 'wrk' or 'autocannon': BENCH_TOOL / --tool wins, else wrk when `command -v wrk` finds it. */
export function pickTool(requested) {
  if (requested === 'wrk' || requested === 'autocannon') return requested;
  return spawnSync('sh', ['-c', 'command -v wrk'], { stdio: 'ignore' }).status === 0 ? 'wrk' : 'autocannon';
}

export function toolVersion(tool) {
  if (tool !== 'wrk') return 'autocannon 9';
  const out = spawnSync('wrk', ['-v'], { encoding: 'utf8' });
  return (out.stdout || out.stderr || '').split('\n')[0].trim();
}

/**
 * Runs `connections` keep-alive clients for `durationS` against the proxy on `port`, each
 * request line carrying `path` (an absolute URI). Returns requests, rps, p50/p99 in ms, errors.
 */
export async function httpLoad(tool, { port, path, host, auth, connections, durationS }) {
  const child =
    tool === 'wrk'
      ? spawnTracked('wrk', ['-t1', `-c${connections}`, `-d${durationS}s`, '--timeout', '5s', '-s', LUA, `http://127.0.0.1:${port}/`], {
          env: { BENCH_PATH: path, BENCH_HOST: host, BENCH_AUTH: auth ?? '' },
        })
      : spawnTracked(process.execPath, [AUTOCANNON, JSON.stringify({ port, path, host, auth, connections, durationS })]);
  let stdout = '';
  child.stdout.setEncoding('utf8').on('data', (chunk) => (stdout += chunk));
  const code = await new Promise((resolve) => child.once('close', resolve));
  const line = stdout.split('\n').find((l) => l.startsWith('BENCH_JSON '));
  if (!line) throw new Error(`${tool} exited with ${code} without a result:\n${stdout.slice(-2000)}`);
  const r = JSON.parse(line.slice('BENCH_JSON '.length));
  const errors = r.connect_errors + r.read_errors + r.write_errors + r.timeouts;
  return {
    requests: r.requests,
    rps: r.requests / (r.duration_us / 1e6),
    p50Ms: r.p50_us / 1000,
    p99Ms: r.p99_us / 1000,
    meanMs: r.mean_us / 1000,
    errors,
    non2xx: r.status_errors,
  };
}
