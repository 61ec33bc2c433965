#!/usr/bin/env node
// Start-up side by side: each build binds 1 and then 10 000 ports, five interleaved rounds, and
// the time from spawn to its "stickyport listening" line is printed per build, sorted.
//   node bench/startup-ab.mjs OLD_DIST/main.js dist/main.js
// (an old build: git worktree add /tmp/old COMMIT && cd /tmp/old && npm ci && npm run build)
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stopAll } from './lib/procs.mjs';
import { startStickyport } from './lib/stickyport.mjs';

const mains = process.argv.slice(2).map((main) => path.resolve(main));
if (mains.length === 0) mains.push(path.resolve('dist/main.js'));
const logDir = mkdtempSync(path.join(os.tmpdir(), 'stickyport-startup-'));
const results = mains.map(() => ({ 1: [], 10000: [] }));
try {
  for (let round = 0; round < 5; round++) {
    for (const [i, main] of mains.entries()) {
      for (const count of [1, 10000]) {
        process.env.BENCH_STICKYPORT_MAIN = main;
        const sp = await startStickyport({ count, providerPort: 1, logDir, name: `startup-${count}`, level: 'info' });
        results[i][count].push(Math.round(sp.listeningMs));
        await stopAll();
      }
    }
  }
  const sorted = (values) => values.sort((a, b) => a - b).join(' ');
  for (const [i, main] of mains.entries()) {
    process.stdout.write(`${main}: 1 port ${sorted(results[i][1])} ms | 10 000 ports ${sorted(results[i][10000])} ms\n`);
  }
} finally {
  await stopAll();
}
