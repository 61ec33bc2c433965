// Turns the measurements into ONE table (candidates, then the stickyport / X ratios), the
// PASS/MISS list of the targets, and the JSON written to bench/results/latest.json.

/**
 * Every candidate the bench knows, in table order; Squid and tinyproxy take part when installed.
 * The raw hop serves CONNECT only (no HTTP server): its HTTP cells stay empty.
 */
export const ALL_CANDIDATES = ['provider', 'hop', 'raw', 'bare', 'squid', 'tinyproxy', 'stickyport'];
const LABELS = {
  provider: 'provider only',
  hop: 'minimal hop',
  raw: 'raw Node hop',
  bare: 'bare proxy-chain',
  squid: 'Squid',
  tinyproxy: 'tinyproxy',
  stickyport: 'stickyport',
};
const RATIO_BASES = [
  ['bare', 'sp/bare'],
  ['provider', 'sp/provider'],
  ['hop', 'sp/hop'],
  ['squid', 'sp/squid'],
];

const num = (digits) => (v) => (v === undefined || v === null || Number.isNaN(v) ? '–' : v.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }));

/** Rows over the four candidates; `ratio: false` leaves the ratio cells empty. */
function candidateRows(cfg) {
  const bulkLabel = cfg.bulkBytes >= 2 ** 30 ? `${cfg.bulkBytes / 2 ** 30} GiB` : `${cfg.bulkBytes / 2 ** 20} MiB`;
  return [
    { label: `HTTP req/s, 50 conns (best of ${cfg.httpRounds})`, get: (c) => c.http?.best, fmt: num(0) },
    { label: 'HTTP req/s, 50 conns (median)', get: (c) => c.http?.median, fmt: num(0) },
    { label: 'HTTP p50 ms, 1 conn', get: (c) => c.latency?.p50Ms, fmt: num(3) },
    { label: 'HTTP p99 ms, 1 conn', get: (c) => c.latency?.p99Ms, fmt: num(3) },
    { label: 'p50 ms added over provider only', get: (c) => c.latency?.addedMs, fmt: num(3), ratio: false },
    { label: 'proxy CPU ms / 1k HTTP requests', get: (c) => c.http?.cpuPer1k, fmt: num(1) },
    { label: '  of which system (kernel)', get: (c) => c.http?.systemCpuPer1k, fmt: num(1) },
    { label: 'provider CPU ms / 1k HTTP requests', get: (c) => c.http?.providerCpuPer1k, fmt: num(1), ratio: false },
    { label: `CONNECT cycles/s, 50 conns (best of ${cfg.cycleRounds})`, get: (c) => c.cycles?.best, fmt: num(0) },
    { label: 'proxy CPU ms / 1k CONNECT cycles', get: (c) => c.cycles?.cpuPer1k, fmt: num(1) },
    { label: '  of which system (kernel)', get: (c) => c.cycles?.systemCpuPer1k, fmt: num(1) },
    { label: `tunnel MB/s, one tunnel, ${bulkLabel}`, get: (c) => c.bulk?.best, fmt: num(0) },
    { label: 'proxy CPU ms / GB tunnelled', get: (c) => c.bulk?.cpuPerGb, fmt: num(0) },
    { label: 'proxy peak RSS MB (VmHWM)', get: (c) => c.peakRssMb, fmt: num(1) },
  ];
}

function stickyportRows(sp, cfg) {
  const rows = [];
  for (const bind of sp.bind ?? []) {
    rows.push({
      label: `start to listening, ${bind.ports.toLocaleString('en-US')} ports`,
      cell: `${num(0)(bind.listeningMs)} ms, ${num(1)(bind.rssMb)} MB`,
    });
  }
  if (sp.idle) {
    rows.push({
      label: `${sp.idle.open.toLocaleString('en-US')} idle tunnels: RSS added`,
      cell: `+${num(1)(sp.idle.deltaMb)} MB`,
    });
  }
  if (sp.sessionApi) rows.push({ label: `session API req/s, 1 port, 50 conns`, cell: num(0)(sp.sessionApi.best) });
  if (sp.socks) {
    const { http, socks5 } = sp.socks;
    rows.push({
      label: 'SOCKS5 cycles/s (HTTP CONNECT, same rounds)',
      cell: `${num(0)(socks5.cycles.best)} (${num(0)(http.cycles.best)})`,
    });
    rows.push({
      label: 'SOCKS5 CPU ms / 1k cycles (HTTP CONNECT)',
      cell: `${num(1)(socks5.cycles.cpuPer1k)} (${num(1)(http.cycles.cpuPer1k)})`,
    });
    rows.push({
      label: 'SOCKS5 tunnel MB/s (HTTP CONNECT tunnel)',
      cell: `${num(0)(socks5.bulk.best)} (${num(0)(http.bulk.best)})`,
    });
    rows.push({
      label: 'SOCKS5 CPU ms / GB tunnelled (HTTP CONNECT)',
      cell: `${num(0)(socks5.bulk.cpuPerGb)} (${num(0)(http.bulk.cpuPerGb)})`,
    });
  }
  return rows;
}

export function buildTable(results, cfg) {
  const keys = ALL_CANDIDATES.filter((k) => results.candidates[k]);
  const bases = RATIO_BASES.filter(([base]) => results.candidates[base]);
  const header = ['', ...keys.map((k) => LABELS[k]), ...bases.map(([, l]) => l)];
  const lines = [header];
  for (const row of candidateRows(cfg)) {
    const values = keys.map((k) => row.get(results.candidates[k] ?? {}));
    const sp = row.get(results.candidates.stickyport ?? {});
    const ratios = bases.map(([base]) => {
      const b = row.get(results.candidates[base] ?? {});
      return row.ratio === false || !sp || !b ? '' : `${(sp / b).toFixed(2)}x`;
    });
    lines.push([row.label, ...values.map(row.fmt), ...ratios]);
  }
  for (const row of stickyportRows(results.stickyport, cfg)) {
    lines.push([row.label, ...keys.map((k) => (k === 'stickyport' ? row.cell : '')), ...bases.map(() => '')]);
  }
  const widths = header.map((_, i) => Math.max(...lines.map((l) => l[i].length)));
  const fmt = (l) => l.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join(' | ');
  const out = [fmt(lines[0]), widths.map((w) => '-'.repeat(w)).join('-|-'), ...lines.slice(1).map(fmt)];
  return out.join('\n');
}

/** The targets: { target, value, pass } with pass undefined when not measured. */
export function evaluateTargets(results, cfg) {
  const c = results.candidates;
  const sp = c.stickyport ?? {};
  const ratio = (a, b) => (a && b ? a / b : undefined);
  const bind10k = results.stickyport.bind?.find((b) => b.ports === 10_000);
  const idle = results.stickyport.idle;
  const socks = results.stickyport.socks;
  const full = !cfg.smoke;
  const t = (target, value, unit, pass) => ({ target, value, unit, pass: value === undefined || Number.isNaN(value) ? undefined : pass(value) });
  const squid = c.squid ?? {};
  return [
    // Issue 11: against Squid, the C++ proxy a user would configure instead (when installed).
    t('CPU per plain-HTTP request <= 0.9x Squid', ratio(sp.http?.cpuPer1k, squid.http?.cpuPer1k), 'x', (v) => v <= 0.9),
    t('plain HTTP req/s >= 1.0x Squid', ratio(sp.http?.best, squid.http?.best), 'x', (v) => v >= 1.0),
    t('p50 at one client <= Squid', squid.latency ? sp.latency?.p50Ms - squid.latency.p50Ms : undefined, 'ms', (v) => v <= 0),
    t('CONNECT cycles/s >= 1.0x Squid', ratio(sp.cycles?.best, squid.cycles?.best), 'x', (v) => v >= 1.0),
    t('CPU per CONNECT cycle <= 1.0x Squid', ratio(sp.cycles?.cpuPer1k, squid.cycles?.cpuPer1k), 'x', (v) => v <= 1.0),
    t('tunnel throughput >= 0.95x provider only', ratio(sp.bulk?.best, c.provider?.bulk?.best), 'x', (v) => v >= 0.95),
    // Issue 4, still held.
    t('plain HTTP req/s >= 1.0x bare proxy-chain', ratio(sp.http?.best, c.bare?.http?.best), 'x', (v) => v >= 1.0),
    t('p50 added over provider only <= 0.15 ms (literal)', sp.latency?.addedMs, 'ms', (v) => v <= 0.15),
    t("p50 above the minimal hop's <= 0.15 ms (PERF.md reading)", sp.latency && c.hop?.latency ? sp.latency.p50Ms - c.hop.latency.p50Ms : undefined, 'ms', (v) => v <= 0.15),
    t('tunnel cycles/s >= 1.0x bare proxy-chain', ratio(sp.cycles?.best, c.bare?.cycles?.best), 'x', (v) => v >= 1.0),
    // Issue 11 asks for these to be no worse than before it (470 ms, 102 MB, +76 MB at 5e9a..bc36135).
    t('10 000 ports bound in <= 1 s (spawn to listening; was 391-470 ms)', full ? bind10k?.listeningMs : undefined, 'ms', (v) => v <= 1_000),
    t('10 000 ports: RSS <= 250 MB (was 102 MB)', full ? bind10k?.rssMb : undefined, 'MB', (v) => v <= 250),
    t('5 000 idle tunnels: <= 150 MB more (was 73-76 MB)', full && idle?.open >= 5_000 ? idle.deltaMb : undefined, 'MB', (v) => v <= 150),
    t('session API >= 10 000 req/s on one port', results.stickyport.sessionApi?.best, 'req/s', (v) => v >= 10_000),
    t('SOCKS5 CONNECT cycles/s >= 0.9x HTTP CONNECT (same rounds)', ratio(socks?.socks5.cycles.best, socks?.http.cycles.best), 'x', (v) => v >= 0.9),
    t('SOCKS5 tunnel MB/s >= 0.9x HTTP CONNECT tunnel (same rounds)', ratio(socks?.socks5.bulk.best, socks?.http.bulk.best), 'x', (v) => v >= 0.9),
  ];
}

export function formatTargets(targets) {
  return targets
    .map(({ target, value, unit, pass }) => {
      const verdict = pass === undefined ? 'n/a ' : pass ? 'PASS' : 'MISS';
      const shown = value === undefined ? 'not measured in this mode' : `${unit === 'x' ? value.toFixed(2) : num(unit === 'ms' ? (Math.abs(value) >= 10 ? 0 : 3) : unit === 'req/s' ? 0 : 1)(value)} ${unit}`;
      return `${verdict}  ${target}: ${shown}`;
    })
    .join('\n');
}

export const median = (values) => {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return undefined;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
