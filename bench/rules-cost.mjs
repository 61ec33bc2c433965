#!/usr/bin/env node
// What rotation rules that never fire cost each plain-HTTP answer, measured in-process on the
// built code (npm run build first): the head check, and the body scan of a small text answer
// (the bench origin's), per answer, against a loop without rules. A steadier figure than an A/B
// run on a shared machine, to set beside the bench's CPU per request (about 90 µs).
//   node bench/rules-cost.mjs [SETTINGS_FILE]   (default bench/settings/rules-not-firing.json)
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const dist = path.join(HERE, '../dist');
const { loadConfig } = await import(path.join(dist, 'config/load.js'));
const { RuleBook } = await import(path.join(dist, 'rotation/rule-book.js'));
const { IdentityEvents } = await import(path.join(dist, 'identity/identity-events.js'));
const { createLogger } = await import(path.join(dist, 'logging/logger.js'));

const settingsFile = process.argv[2] ?? path.join(HERE, 'settings/rules-not-firing.json');
const dir = mkdtempSync(path.join(os.tmpdir(), 'stickyport-rules-cost-'));
writeFileSync(path.join(dir, 'appsettings.json'), readFileSync(settingsFile));
const config = loadConfig({ cwd: dir, env: {} });
const book = new RuleBook(config.mappings[0].rotationRules, { events: new IdentityEvents(), log: createLogger('silent'), bodyScanBytes: config.rotation.bodyScanBytes });
const session = { id: 'AbCdEfGh' };
const state = { port: 10201, get session() { return session; } };
const rules = book.forPort(state);
const route = { sessionId: session.id };
// The bench origin's answer: its head as undici hands it over, and its body.
const head = ['Content-Type', 'text/plain', 'Content-Length', '39', 'Date', new Date().toUTCString(), 'Connection', 'keep-alive', 'Keep-Alive', 'timeout=120'].map((text) => Buffer.from(text, 'latin1'));
const body = Buffer.from('hello from the stickyport bench origin\n');

function perAnswer(label, answer) {
  const rounds = 2_000_000;
  for (let i = 0; i < 200_000; i++) answer();
  const start = process.cpuUsage();
  for (let i = 0; i < rounds; i++) answer();
  const used = process.cpuUsage(start);
  const ns = ((used.user + used.system) * 1000) / rounds;
  process.stdout.write(`  ${ns.toFixed(0).padStart(5)} ns per answer  ${label}\n`);
  return ns;
}

process.stdout.write(`rules: ${book.rules.map((rule) => rule.name).join(', ')}\n`);
const none = perAnswer('no rules (the loop itself)', () => undefined);
const withRules = perAnswer('head rules, then a body scan of 39 bytes to its end', () => {
  const verdict = rules.answered(route, 200, head, true);
  if (verdict && !(verdict instanceof Promise)) {
    verdict.feed(body, true);
    verdict.end();
  }
});
process.stdout.write(`  ${(withRules - none).toFixed(0)} ns more per answer\n`);
