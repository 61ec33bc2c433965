import type { Reporter, TestModule } from 'vitest/node';

/**
 * Ends every run with the plain line CI reads, `N passed, N failed, N skipped`, and names the
 * Redis tests that were skipped because redis-server is missing, with the command to install it.
 */
export default class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<unknown>): void {
    let passed = 0;
    let failed = unhandledErrors.length;
    let skipped = 0;
    const skippedRedis: string[] = [];
    for (const module of testModules) {
      let tests = 0;
      for (const test of module.children.allTests()) {
        tests++;
        const state = test.result().state;
        if (state === 'passed') passed++;
        else if (state === 'failed') failed++;
        else {
          skipped++;
          if (/redis/i.test(`${module.moduleId} ${test.fullName}`)) skippedRedis.push(test.fullName);
        }
      }
      // A file that failed to load has no tests to count: count the file.
      if (tests === 0 && module.state() === 'failed') failed++;
    }
    const out: string[] = [''];
    if (skippedRedis.length > 0) {
      out.push(`Skipped ${skippedRedis.length} Redis test(s): redis-server is not installed.`);
      out.push('Install it with: sudo apt-get update && sudo apt-get install -y redis-server');
      for (const name of skippedRedis) out.push(`  skipped: ${name}`);
    }
    out.push(`${passed} passed, ${failed} failed, ${skipped} skipped`);
    process.stdout.write(`${out.join('\n')}\n`);
  }
}
