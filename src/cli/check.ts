import path from 'node:path';
import type { ConfigReport, StickyportConfig } from '../config/load.js';
import { LEAVES } from '../config/layers.js';
import { nearestKey } from '../config/problems.js';
import type { MemberVars, UpstreamPlan } from '../upstream/upstream-member.js';
import { inert, quoted } from '../logging/quoted.js';

const VALUE_COLUMN = 44;

function table(rows: ReadonlyArray<readonly string[]>): string[] {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows.map((row) =>
    row
      .map((cell, column) => {
        if (column === row.length - 1) return cell;
        // A long value (an upstream URL) pushes its origin out rather than every other row's.
        const width = column === 1 ? Math.min(widths[column]!, VALUE_COLUMN) : widths[column]!;
        return cell.padEnd(width);
      })
      .join('  ')
      .trimEnd(),
  );
}

/** Things that are allowed but probably not meant, for `stickyport check` to point out. */
export function configNotes(report: ConfigReport, env: NodeJS.ProcessEnv, cwd = process.cwd()): string[] {
  const notes: string[] = upstreamNotes(report.config);
  // Resolved from the working directory, not the settings file's folder: a service started
  // from elsewhere (systemd's `/`) keeps its sessions in another file.
  const { store } = report.config;
  if (store.type === 'file' && !path.isAbsolute(store.path)) {
    notes.push(`SessionStore.Path ${quoted(store.path)} is relative to the working directory: started from here, the sessions are kept in ${quoted(path.resolve(cwd, store.path))}`);
  }
  // A mistyped variable is not an error (the environment holds much else), but it is ignored.
  const known = [...LEAVES.values()].flatMap((leaf) => (leaf.env ? [leaf.env] : []));
  for (const name of Object.keys(env).filter((name) => name.startsWith('STICKYPORT_')).sort()) {
    if (known.includes(name)) continue;
    const meant = nearestKey(name, known);
    notes.push(`environment variable ${inert(name)} is not one stickyport reads, so it is ignored${meant ? `; did you mean ${meant}?` : ''}`);
  }
  return notes;
}

/**
 * Settings that are allowed but likely not what was meant, said at start-up and by `check`: an
 * upstream without {session} (a plain chained proxy: every port then shares one exit), a SOCKS4
 * one with a password (SOCKS4 carries a user id only: the password is never sent), and an
 * environment variable for a key every mapping sets for itself (it changes nothing).
 */
export function upstreamNotes(config: StickyportConfig): string[] {
  // A Set: the top-level host rules are every mapping's, and said once.
  const notes = new Set<string>(config.inertEnvironment);
  for (const mapping of config.mappings) {
    const where = mapping.source ? `${mapping.source}.Upstream` : 'Upstream';
    if (mapping.upstream.members.some((member) => !member.hasSessionPlaceholder)) {
      notes.add(`${where} has no {session} placeholder: every port${mapping.source ? ` of mapping "${mapping.name}"` : ''} shares one upstream identity`);
    }
    const sample = { session: 'sample', port: mapping.portStart, lifetimeMs: mapping.lifetimeMs, params: mapping.upstream.parameters };
    if (socks4WithPassword(mapping.upstream, sample)) notes.add(socks4Note(where));
    for (const rule of mapping.hostRules) {
      if (rule.upstream && socks4WithPassword(rule.upstream, { ...sample, params: rule.upstream.parameters })) notes.add(socks4Note(`${rule.source}.Upstream`));
    }
  }
  return [...notes];
}

function socks4WithPassword(plan: UpstreamPlan, sample: MemberVars): boolean {
  return plan.members.some((member) => (member.protocol === 'socks4:' || member.protocol === 'socks4a:') && member.render(sample).password !== '');
}

function socks4Note(where: string): string {
  return `${where} gives a SOCKS4 upstream a password: SOCKS4 carries a user id only, so the password is never sent (use socks5h:// for a login with a password)`;
}

/** The text `stickyport check` prints for a valid configuration. */
export function checkReport(report: ConfigReport, notes: readonly string[], version: string): string {
  const lines = [
    `stickyport ${version}: the configuration is valid.`,
    '',
    'Layers, a later one wins over an earlier one:',
    ...table(report.layers.map((layer) => [inert(layer.name), inert(layer.detail)])).map((line) => `  ${line}`),
    '',
    'Values (secrets masked), each with the layer it came from:',
    ...table(report.values.map((value) => [value.key, value.shown, value.origin])).map((line) => `  ${line}`),
  ];
  if (notes.length > 0) lines.push('', 'Notes:', ...notes.map((note) => `  ${note}`));
  return `${lines.join('\n')}\n`;
}
