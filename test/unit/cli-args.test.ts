import { describe, expect, it } from 'vitest';
import { parseCommandLine, UsageError } from '../../src/cli/args.js';
import { helpText } from '../../src/cli/help.js';
import { CONFIG_FLAGS } from '../../src/config/flags.js';

function usageError(args: string[]): string {
  try {
    parseCommandLine(args);
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return (error as Error).message;
  }
  throw new Error(`accepted: ${args.join(' ')}`);
}

describe('the command line', () => {
  it('starts by default, with the flags in the order given and --config apart', () => {
    expect(parseCommandLine([])).toEqual({ kind: 'start', configPath: undefined, flags: [] });
    expect(
      parseCommandLine(['--ports', '10201-10210', '--upstream=http://u-{session}:pw@gate:7777', '-c', 'my.json', '--session-api', '--ports', '1-2']),
    ).toEqual({
      kind: 'start',
      configPath: 'my.json',
      flags: [
        { name: 'ports', text: '10201-10210' },
        { name: 'upstream', text: 'http://u-{session}:pw@gate:7777' },
        { name: 'session-api', text: 'true' },
        { name: 'ports', text: '1-2' },
      ],
    });
    expect(parseCommandLine(['start', '--config=a.json'])).toMatchObject({ kind: 'start', configPath: 'a.json' });
  });

  it('reads check with its options before or after it', () => {
    expect(parseCommandLine(['check', '--config', 'f.json', '--lifetime', '30'])).toEqual({
      kind: 'check',
      configPath: 'f.json',
      flags: [{ name: 'lifetime', text: '30' }],
    });
    expect(parseCommandLine(['--host', '127.0.0.2', 'check'])).toMatchObject({ kind: 'check', flags: [{ name: 'host', text: '127.0.0.2' }] });
  });

  it('answers --help and --version before anything else, even a mistake', () => {
    expect(parseCommandLine(['--help'])).toEqual({ kind: 'help' });
    expect(parseCommandLine(['-h', 'check'])).toEqual({ kind: 'help' });
    expect(parseCommandLine(['help'])).toEqual({ kind: 'help' });
    expect(parseCommandLine(['--ports', '1', '-v'])).toEqual({ kind: 'version' });
    expect(parseCommandLine(['--version'])).toEqual({ kind: 'version' });
  });

  it('names an unknown option and the one it probably meant', () => {
    expect(usageError(['--prots', '1-2'])).toBe('unknown option --prots; did you mean --ports?');
    expect(usageError(['--log_level', 'info'])).toBe('unknown option --log_level; did you mean --log-level?');
    expect(usageError(['--frobnicate'])).toBe('unknown option --frobnicate');
    expect(usageError(['-x'])).toBe('unknown option -x');
  });

  it('reads --preset as a configuration flag', () => {
    expect(parseCommandLine(['--preset', 'oxylabs'])).toMatchObject({ flags: [{ name: 'preset', text: 'oxylabs' }] });
  });

  // Each flag set both keys, so the later one won silently: `--preset oxylabs --upstream URL`
  // ran on the URL with the preset dropped.
  it('refuses --upstream and --preset together, in either order', () => {
    const message = '--upstream and --preset both name the upstream (a URL, or a provider preset): give one of them';
    expect(usageError(['--preset', 'oxylabs', '--upstream', 'http://u-{session}:pw@gate:7777'])).toBe(message);
    expect(usageError(['check', '--upstream=direct', '--preset=soax'])).toBe(message);
  });

  it('names a flag whose value is missing, or swallowed the next flag', () => {
    expect(usageError(['--ports'])).toBe('--ports needs a value: --ports 10201-10300, or --ports=VALUE for a value that starts with "-"');
    expect(usageError(['--upstream', '--ports', '1-2'])).toMatch(/^--upstream needs a value: --upstream URL/);
    expect(usageError(['--config'])).toBe('--config needs a value: --config FILE');
    // With "=", a value may start with "-".
    expect(parseCommandLine(['--lifetime=-5'])).toMatchObject({ flags: [{ name: 'lifetime', text: '-5' }] });
  });

  it('refuses an empty --config: `--config="$CFG"` with CFG unset must not run on the defaults', () => {
    expect(usageError(['check', '--config='])).toBe('--config is empty: it needs a file: --config FILE');
    expect(usageError(['-c', ''])).toBe('-c is empty: it needs a file: --config FILE');
  });

  it('refuses a value for a switch, an unknown command and a stray argument', () => {
    expect(usageError(['--session-api=yes'])).toBe('--session-api takes no value');
    expect(usageError(['chek'])).toBe('unknown command "chek"; did you mean check?');
    expect(usageError(['check', 'extra'])).toBe('unexpected argument "extra"');
  });

  // An upstream URL without its flag, or the half of an unquoted password after a space, was
  // echoed whole, password included.
  it('never shows the password in a stray argument', () => {
    expect(usageError(['check', '--ports', '1', 'http://user-{session}:StrayPw123@gate.example:7777'])).toBe(
      'unexpected argument "http://user-{session}:***@gate.example:7777"',
    );
    expect(usageError(['--upstream', 'http://user-{session}:p', 'w@gate.example:7777'])).toBe('unknown command (not shown: it may hold a password)');
    expect(usageError(['check', 'redis:/:pw@host'])).toBe('unexpected argument (not shown: it may hold a password)');
    // The middle word of an unquoted password: with a URL on the line, no stray word is shown.
    expect(usageError(['check', '--upstream', 'http://u:three', 'word', 'secret@127.0.0.1:1'])).toBe('unexpected argument (not shown: it may hold a password)');
    expect(usageError(['--upstream', 'http://u:three', 'word', 'secret@127.0.0.1:1'])).toBe('unknown command (not shown: it may hold a password)');
  });
});

describe('--help', () => {
  it('lists every option, the layers in order and an example', () => {
    const text = helpText('1.2.3');
    expect(text).toMatch(/^stickyport 1\.2\.3: /);
    for (const flag of CONFIG_FLAGS) expect(text).toContain(`--${flag.name}`);
    for (const option of ['--config FILE', '--help', '--version', 'stickyport check']) expect(text).toContain(option);
    const layers = ['built-in defaults', './appsettings.json', './appsettings.$NODE_ENV.json', 'STICKYPORT_* environment', 'the --config FILE', 'the flags above'];
    for (const [index, layer] of layers.entries()) expect(text).toContain(`${index + 1}. ${layer}`);
    expect(text).toContain("stickyport --ports 10201-10210 --upstream 'http://user-session-{session}:pw@gate.example:7777'");
    for (const line of text.split('\n')) expect(line.length, line).toBeLessThanOrEqual(100);
  });
});
