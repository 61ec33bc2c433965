// Child processes of the bench: every one is registered here, and all of them are killed on the
// way out (normal end, error, Ctrl-C, or process exit). Also /proc readers and port helpers.
import { fork, spawn } from 'node:child_process';
import { once } from 'node:events';
import { openSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';

const children = new Set();

export function track(child) {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** SIGTERM, then SIGKILL after `graceMs` for any child still alive. */
export async function stop(child, graceMs = 1_000) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

export async function stopAll(graceMs = 1_000) {
  await Promise.all([...children].map((child) => stop(child, graceMs)));
}

process.on('exit', () => {
  for (const child of children) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
});

/** Forks a bench server script; resolves with its { port } once it reports ready over IPC. */
export async function forkServer(script, args, { logDir, name, timeoutMs = 10_000 }) {
  const log = openSync(path.join(logDir, `${name}.log`), 'a');
  const child = track(fork(script, args, { stdio: ['ignore', log, log, 'ipc'], env: childEnv() }));
  const ready = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start within ${timeoutMs} ms (log: ${logDir}/${name}.log)`)), timeoutMs);
    child.once('message', (message) => {
      clearTimeout(timer);
      resolve(message);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with code ${code} (log: ${logDir}/${name}.log)`));
    });
  });
  return { child, pid: child.pid, port: ready.port };
}

/** Spawns any command, registered for clean-up; stdout is piped, stderr goes to a log file or inherits. */
export function spawnTracked(command, args, options = {}) {
  return track(spawn(command, args, { env: childEnv(options.env), stdio: options.stdio ?? ['ignore', 'pipe', 'inherit'], cwd: options.cwd }));
}

/** The environment for children: no STICKYPORT_* or NODE_ENV leaking in from the caller. */
export function childEnv(extra = {}) {
  const env = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('STICKYPORT_') && key !== 'NODE_ENV' && key !== 'NODE_OPTIONS') env[key] = value;
  }
  return { ...env, ...extra };
}

export const CLOCK_TICKS = 100;

/** [user ms, system ms] of one process so far: where its CPU goes (own code vs kernel). */
export function cpuSplitMs(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state): utime is field 14, stime field 15 (clock ticks of 1/100 s).
  return [Number(fields[11]) * (1000 / CLOCK_TICKS), Number(fields[12]) * (1000 / CLOCK_TICKS)];
}

/** utime + stime of a process in ms. */
export function cpuMs(pid) {
  const [user, system] = cpuSplitMs(pid);
  return user + system;
}

/** { rssMb, hwmMb } from /proc/PID/status. */
export function memory(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rssMb: kb('VmRSS') / 1024, hwmMb: kb('VmHWM') / 1024 };
}

export function canConnect(port, host = '127.0.0.1') {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export async function waitForPort(port, { timeoutMs = 15_000, child } = {}) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child && child.exitCode !== null) throw new Error(`process exited with code ${child.exitCode} before port ${port} accepted`);
    if (await canConnect(port)) return;
    await sleep(10);
  }
  throw new Error(`port ${port} did not accept within ${timeoutMs} ms`);
}

/** Ports with a listening TCP socket on this machine (any address), from /proc/net/tcp{,6}. */
export function listeningPorts() {
  const ports = new Set();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols[3] === '0A') ports.add(parseInt(cols[1].split(':')[1], 16));
    }
  }
  return ports;
}

/** A free range of `count` ports below the ephemeral range, not overlapping `taken` ranges. */
export function freeRange(count, taken = []) {
  const busy = listeningPorts();
  const ephemeralStart = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').split(/\s+/)[0]) || 32768;
  for (let start = 10_000; start + count <= ephemeralStart; start += 100) {
    const end = start + count - 1;
    if (taken.some(([a, b]) => start <= b && a <= end)) continue;
    let clear = true;
    for (const port of busy) if (port >= start && port <= end) clear = false;
    if (clear) return [start, end];
  }
  throw new Error(`no free range of ${count} ports below ${ephemeralStart}`);
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Whole-machine CPU from /proc/stat, in ms: busy (user + nice + system) and steal. */
export function machineCpuMs() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).map(Number);
  const tick = 1000 / CLOCK_TICKS;
  return { busy: (f[1] + f[2] + f[3]) * tick, steal: (f[8] ?? 0) * tick };
}

/** CPU of this process, its reaped children (wrk, autocannon) and the live `pids`, in ms. */
export function benchCpuMs(pids) {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);
  let total = (f[11] + f[12] + f[13] + f[14]) * (1000 / CLOCK_TICKS);
  for (const pid of pids) {
    try {
      total += cpuMs(pid);
    } catch {
      // exited: its time is in our cutime/cstime once reaped
    }
  }
  return total;
}

/**
 * Measures what else ran on the machine during a window: CPU used by processes that are not
 * the bench's own (another test run, kernel threads) and CPU stolen by the hypervisor, both
 * as a percentage of the whole machine.
 */
export function noiseMeter(pids) {
  const m0 = machineCpuMs();
  const b0 = benchCpuMs(pids());
  const t0 = performance.now();
  return () => {
    const m1 = machineCpuMs();
    const b1 = benchCpuMs(pids());
    const wallMs = performance.now() - t0;
    // /proc/stat counts in 10 ms ticks: a shorter window says nothing.
    if (wallMs < 500) return undefined;
    const capacity = wallMs * CPUS;
    return {
      otherPct: Math.max(0, ((m1.busy - m0.busy - (b1 - b0)) / capacity) * 100),
      stealPct: ((m1.steal - m0.steal) / capacity) * 100,
    };
  };
}

const CPUS = (() => {
  const text = readFileSync('/proc/stat', 'utf8');
  return text.split('\n').filter((line) => /^cpu\d+ /.test(line)).length || 1;
})();
