// The tools a user would configure instead of stickyport, from Debian's packages, each as one
// bench candidate chained to the same provider with one fixed session login (static sessions,
// no API): Squid 5 (`cache_peer ... login=USER:PASS`, one process with `squid -N`, cache off)
// and tinyproxy (`Upstream http USER:PASS@host:port`). Each is used only when installed.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { freeRange, spawnTracked, stop, waitForPort } from './procs.mjs';

function which(command, extra = []) {
  for (const dir of [...(process.env.PATH ?? '').split(':'), ...extra]) {
    try {
      execFileSync('test', ['-x', path.join(dir, command)]);
      return path.join(dir, command);
    } catch {
      // not here
    }
  }
  return undefined;
}

export const squidPath = which('squid', ['/usr/sbin', '/sbin']);
export const tinyproxyPath = which('tinyproxy', ['/usr/bin', '/usr/sbin']);

/**
 * Squid as PERF.md describes it: one http_port, one cache_peer with a fixed session login, no
 * cache, no access log, no pinger, one process in the foreground. Squid drops to the `proxy`
 * user when started as root, so its folder must be writable by it.
 */
export async function startSquid({ providerPort, user, password, logDir }) {
  const [port] = freeRange(1);
  const dir = path.join(logDir, 'squid');
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o777);
  const config = path.join(dir, 'squid.conf');
  writeFileSync(
    config,
    [
      `http_port 127.0.0.1:${port}`,
      `cache_peer 127.0.0.1 parent ${providerPort} 0 no-query no-digest default login=${user}:${password}`,
      'never_direct allow all',
      'http_access allow localhost',
      'http_access deny all',
      'cache deny all',
      'cache_mem 8 MB',
      'access_log none',
      `cache_log ${path.join(dir, 'cache.log')}`,
      'pinger_enable off',
      'pid_filename none',
      'logfile_rotate 0',
      'shutdown_lifetime 0 seconds',
      `coredump_dir ${dir}`,
      // Long keep-alive both ways, as the other candidates have.
      'client_persistent_connections on',
      'server_persistent_connections on',
      'pconn_timeout 120 seconds',
      'client_idle_pconn_timeout 120 seconds',
      'forwarded_for delete',
      'via off',
      '',
    ].join('\n'),
  );
  const log = openSync(path.join(logDir, 'squid.log'), 'a');
  const child = spawnTracked(squidPath, ['-N', '-f', config], { stdio: ['ignore', log, log] });
  try {
    await waitForPort(port, { child, timeoutMs: 20_000 });
  } catch (error) {
    await stop(child);
    throw error;
  }
  return { child, pid: child.pid, port };
}

/** tinyproxy in the foreground with one upstream and a fixed login; no log beyond errors. */
export async function startTinyproxy({ providerPort, user, password, logDir }) {
  const [port] = freeRange(1);
  const dir = path.join(logDir, 'tinyproxy');
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o777);
  const config = path.join(dir, 'tinyproxy.conf');
  writeFileSync(
    config,
    [
      `Port ${port}`,
      'Listen 127.0.0.1',
      'Timeout 120',
      'MaxClients 1024',
      'Allow 127.0.0.1',
      'LogLevel Error',
      'DisableViaHeader Yes',
      `Upstream http ${user}:${password}@127.0.0.1:${providerPort}`,
      '',
    ].join('\n'),
  );
  const log = openSync(path.join(logDir, 'tinyproxy.log'), 'a');
  const child = spawnTracked(tinyproxyPath, ['-d', '-c', config], { stdio: ['ignore', log, log] });
  try {
    await waitForPort(port, { child, timeoutMs: 10_000 });
  } catch (error) {
    await stop(child);
    throw error;
  }
  return { child, pid: child.pid, port };
}
