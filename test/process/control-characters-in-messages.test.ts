import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { spawnStickyport, writeConfig } from '../helpers/spawn-stickyport.js';

// What the command line says about a refused configuration reaches a terminal: every control
// character the user's own text carries (a file's path, an option's name, a value quoted in an
// explanation) is written out as \uXXXX. An adversarial pass had a --config path holding a
// newline print a made-up problem line, ESC sequences clear the screen, and the 8-bit CSI
// (U+009B) pass raw in two explanations.

// eslint-disable-next-line no-control-regex
const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;

async function refusal(args: string[], env: NodeJS.ProcessEnv = {}): Promise<string[]> {
  const proc = spawnStickyport(args, env);
  expect(await proc.exited).toBe(2);
  const text = proc.stderr.join('');
  expect(text).not.toMatch(RAW_CONTROL);
  return text.trimEnd().split('\n');
}

describe('control characters in configuration messages', () => {
  it('a --config path holding a newline cannot add a line of its own', async () => {
    const dir = path.dirname(writeConfig({}));
    const file = path.join(dir, 'a\n  Listen.Host = "0.0.0.0" (from flag --host): FAKE\n.json');
    writeFileSync(file, '{"X":1}');
    const lines = await refusal(['check', '--config', file]);
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatch(/^ {2}X \(from --config .*a\\u000a {2}Listen\.Host = .*FAKE\\u000a\.json\): unknown key/);
  });

  it.each([
    ['a missing --config file', ['check', '--config', '/nonexistent/e\u001b[31mRED.json'], {}, 'e\\u001b[31mRED.json'],
    ['an unknown option', ['--\u001b[2Jports=1'], {}, '--\\u001b[2Jports'],
    ['a refused id alphabet character', ['check', '--ports', '22100'], { STICKYPORT_SESSION_ID_ALPHABET: 'ab\u009b' }, 'not allowed: "\\u009b"'],
  ])('%s is shown escaped', async (_name, args, env, shown) => {
    const lines = await refusal(args as string[], env as NodeJS.ProcessEnv);
    expect(lines.join('\n')).toContain(shown);
  });

  it('an upstream host holding U+009B is quoted escaped in the explanation', async () => {
    const file = writeConfig({ Upstream: { Host: 'h\u009b31mC1' } });
    const lines = await refusal(['check', '--config', file]);
    expect(lines.join('\n')).toContain('host "h\\u009b31mC1" is not a host name');
  });

  it('a start refused over a session file path holding U+009B shows it escaped (exit 1)', async () => {
    // (C0 controls, a newline among them, are refused in a path by the configuration itself.)
    const dir = path.join(path.dirname(writeConfig({})), 'odd\u009b[31mname');
    mkdirSync(dir);
    const file = path.join(dir, 'sessions.json');
    // Its lock is a folder: a refusal that names the path.
    mkdirSync(`${file}.lock`);
    const proc = spawnStickyport(['--ports', '22190', '--store', `file:${file}`]);
    expect(await proc.exited).toBe(1);
    const text = proc.stderr.join('');
    expect(text).toContain('odd\\u009b[31mname');
    expect(text).not.toMatch(RAW_CONTROL);
    expect(text.trimEnd().split('\n')).toHaveLength(1);
  });

  it('a bad preset lists the empty choice by name, not as an empty item', async () => {
    const lines = await refusal(['check', '--ports', '22100', '--preset', 'nope']);
    expect(lines.join('\n')).toContain('must be one of: "" (none), brightdata');
  });
});
