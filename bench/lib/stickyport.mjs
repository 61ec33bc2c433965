// Starts stickyport from this repo's dist/ as its own process, with a config file written for
// the bench, and tells when all its ports accept.
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { openSync, writeFileSync } from 'node:fs';
import { canConnect, freeRange, spawnTracked, stop, waitForPort } from './procs.mjs';

// BENCH_STICKYPORT_MAIN points at another build (e.g. a patched copy of dist/) for A/B runs. It
// is read at each start: bench/ab.mjs sets it per candidate, after this module was loaded.
const mainPath = () => process.env.BENCH_STICKYPORT_MAIN ?? fileURLToPath(new URL('../../dist/main.js', import.meta.url));

export const UPSTREAM_USER_TEMPLATE = 'customer-acme-session-{session}';

/**
 * `--mappings` (or BENCH_MAPPINGS=1): the stickyport candidate runs with its ports split over
 * two mappings (two upstream templates, two lifetimes) and host rules that every request is
 * checked against without any matching the bench's target, so the figures include that work.
 */
export const WITH_MAPPINGS = process.env.BENCH_MAPPINGS === '1' || process.argv.includes('--mappings');

const HOST_RULES = [
  { Pattern: '*.doubleclick.net', Action: 'Deny' },
  { Pattern: '/(.*\\.)?(google-analytics|googletagmanager)\\.com/', Action: 'Deny' },
  { Pattern: '*.gstatic.com', Action: 'Bypass' },
  { Pattern: 'api.2captcha.com', Action: 'Bypass' },
];

function mappingsFor(portStart, portEnd, providerPort) {
  const middle = portStart + Math.floor((portEnd - portStart) / 2);
  return [
    {
      Name: 'first',
      Listen: { PortRange: { Start: portStart, End: middle } },
      Upstream: { Url: `http://${UPSTREAM_USER_TEMPLATE}:secret@127.0.0.1:${providerPort}` },
      HostRules: [{ Pattern: '*.example.net', Action: 'Deny' }],
    },
    {
      Name: 'second',
      Listen: { PortRange: { Start: middle + 1, End: Math.max(middle + 1, portEnd) }, StickyProxyLifetime: 30 },
      Upstream: { Url: `http://customer-beta-session-{session}:secret@127.0.0.1:${providerPort}` },
    },
  ];
}

/**
 * `settings` (a file's JSON) laid over the bench's configuration: each top-level section merged
 * key by key, lists replaced, as a later configuration layer does. For runs with rotation rules,
 * identity or other keys configured (bench/ab.mjs DIST_MAIN@SETTINGS.json).
 */
function overlay(config, settings) {
  const merged = { ...config };
  for (const [section, value] of Object.entries(settings ?? {})) {
    const base = merged[section];
    merged[section] = value && typeof value === 'object' && !Array.isArray(value) && base && typeof base === 'object' && !Array.isArray(base) ? { ...base, ...value } : value;
  }
  return merged;
}

function writeConfig(logDir, name, { portStart, portEnd, providerPort, level, mappings, settings }) {
  const file = path.join(logDir, `${name}.json`);
  const base = {
    Listen: { Host: '127.0.0.1', PortRange: { Start: portStart, End: portEnd }, StickyProxyLifetime: 10, IdleTimeout: '120s' },
    Upstream: { Url: `http://${UPSTREAM_USER_TEMPLATE}:secret@127.0.0.1:${providerPort}`, ConnectTimeout: '10s' },
    SessionAPI: { Enabled: true, Domain: 'portmapper' },
    SessionStore: { Type: 'memory' },
    Logging: { Level: level },
    ...(mappings && portEnd > portStart ? { Mappings: mappingsFor(portStart, portEnd, providerPort), HostRules: HOST_RULES } : {}),
  };
  writeFileSync(file, JSON.stringify(overlay(base, settings), null, 2));
  return file;
}

/**
 * Starts stickyport on `count` free ports. With level 'info' the readiness signal is the
 * "stickyport listening" log line (timed from spawn), and the last port is then checked; with
 * 'warn' readiness is polled with TCP connects on the last port. Retries once on another
 * range if a port was taken in between. With `settings` (an A/B candidate's configuration on
 * top of the bench's), stdout goes to /dev/null, as a production log would leave the process
 * without anyone reading it here, and readiness is polled.
 */
export async function startStickyport({ count, providerPort, logDir, name, level = 'warn', taken = [], extraArgs = [], settings, mappings = WITH_MAPPINGS }) {
  let lastError;
  for (let attempt = 0; attempt < 3; attempt++) {
    const [portStart, portEnd] = freeRange(count, taken);
    const config = writeConfig(logDir, name, { portStart, portEnd, providerPort, level, settings, mappings });
    const logFile = path.join(logDir, `${name}.log`);
    const err = openSync(logFile, 'a');
    const polled = level === 'warn' || settings !== undefined;
    const out = settings !== undefined ? openSync('/dev/null', 'w') : level === 'warn' ? err : 'pipe';
    const startedAt = performance.now();
    const child = spawnTracked(process.execPath, [...extraArgs, mainPath(), '--config', config], {
      cwd: logDir,
      stdio: ['ignore', out, err],
    });
    try {
      let listeningMs;
      if (polled) {
        await waitForPort(portEnd, { child });
      } else {
        listeningMs = await waitForLine(child, 'stickyport listening', startedAt);
        if (!(await canConnect(portEnd))) throw new Error(`stickyport logged readiness but port ${portEnd} refuses`);
      }
      const readyMs = performance.now() - startedAt;
      return { child, pid: child.pid, portStart, portEnd, listeningMs, readyMs, logFile };
    } catch (error) {
      lastError = error;
      await stop(child);
      taken = [...taken, [portStart, portEnd]];
    }
  }
  throw new Error(`stickyport ${name} did not start: ${lastError?.message}`);
}

function waitForLine(child, msg, startedAt, timeoutMs = 20_000) {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    const timer = setTimeout(() => reject(new Error(`no "${msg}" log line within ${timeoutMs} ms`)), timeoutMs);
    lines.on('line', (line) => {
      if (line.includes(`"msg":"${msg}"`)) {
        clearTimeout(timer);
        resolve(performance.now() - startedAt);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`stickyport exited with code ${code}`));
    });
  });
}
