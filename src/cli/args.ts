import { parseArgs } from 'node:util';
import { CONFIG_FLAGS, configFlagNamed, type FlagValue } from '../config/flags.js';
import { nearestKey } from '../config/problems.js';
import { maskingOfLooseText, showValue } from '../config/secrets.js';
import { inert } from '../logging/quoted.js';

/** What the command line asks for. */
export type Command =
  | { readonly kind: 'start' | 'check'; readonly configPath?: string; readonly flags: readonly FlagValue[] }
  | { readonly kind: 'help' | 'version' };

/** A command line that cannot be obeyed: printed with a pointer to --help, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

type OptionSpec = { readonly type: 'string' | 'boolean'; readonly short?: string };

const OPTIONS: Readonly<Record<string, OptionSpec>> = {
  config: { type: 'string', short: 'c' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'v' },
  ...Object.fromEntries(CONFIG_FLAGS.map((flag) => [flag.name, { type: flag.valueName ? 'string' : 'boolean' } as const])),
};

const COMMANDS = ['check', 'help'];

/**
 * Reads the command line with node:util's parseArgs, in its lenient mode, so that each mistake
 * gets a message of ours: the unknown option with the nearest known one, the flag whose value
 * is missing. `--help` and `--version` win over everything else.
 */
export function parseCommandLine(args: readonly string[]): Command {
  const { tokens } = parseArgs({ args: [...args], options: OPTIONS, strict: false, allowPositionals: true, tokens: true });
  let help = false;
  let version = false;
  let configPath: string | undefined;
  const flags: FlagValue[] = [];
  const positionals: string[] = [];
  for (const token of tokens) {
    if (token.kind === 'positional') positionals.push(token.value);
    if (token.kind !== 'option') continue;
    const spec = Object.hasOwn(OPTIONS, token.name) ? OPTIONS[token.name] : undefined;
    if (!spec) throw unknownOption(token.rawName, token.name);
    if (spec.type === 'boolean') {
      if (token.value !== undefined) throw new UsageError(`${inert(token.rawName)} takes no value`);
      if (token.name === 'help') help = true;
      else if (token.name === 'version') version = true;
      else flags.push({ name: token.name, text: 'true' });
      continue;
    }
    // parseArgs takes the next argument as the value, even `--ports` in `--upstream --ports 1`.
    if (token.value === undefined || (!token.inlineValue && token.value.startsWith('-') && token.value.length > 1)) {
      throw new UsageError(`${inert(token.rawName)} needs a value${example(token.name)}`);
    }
    if (token.name === 'config') {
      // `--config="$CFG"` with CFG unset: running on ./appsettings.json or the defaults instead
      // of the file meant would go unnoticed.
      if (token.value === '') throw new UsageError(`${inert(token.rawName)} is empty: it needs a file${example('config')}`);
      configPath = token.value;
    }
    else flags.push({ name: token.name, text: token.value });
  }
  if (help) return { kind: 'help' };
  if (version) return { kind: 'version' };
  // Each of these names the upstream its own way; given both, the later one won without a word.
  if (flags.some((flag) => flag.name === 'upstream') && flags.some((flag) => flag.name === 'preset')) {
    throw new UsageError('--upstream and --preset both name the upstream (a URL, or a provider preset): give one of them');
  }
  const [command = 'start', ...extra] = positionals;
  // With a URL or a login on the line, a stray word may be the middle of an unquoted password
  // (`--upstream http://u:three word secret@host:1`): none is shown then.
  const loginOnLine = args.some((arg) => arg.includes('://') || arg.includes('@'));
  const shownArgument = (argument: string): string => (loginOnLine && !argument.includes('://') ? NOT_SHOWN : shown(argument));
  if (command !== 'start' && !COMMANDS.includes(command)) {
    const meant = nearestKey(command, COMMANDS);
    throw new UsageError(`unknown command ${shownArgument(command)}${meant ? `; did you mean ${meant}?` : ''}`);
  }
  if (extra.length > 0) throw new UsageError(`unexpected argument ${shownArgument(extra[0]!)}`);
  if (command === 'help') return { kind: 'help' };
  return { kind: command === 'check' ? 'check' : 'start', configPath, flags };
}

/** A stray argument as a message may show it: an upstream URL missing its flag, half of an unquoted password. */
function shown(argument: string): string {
  const masking = maskingOfLooseText(argument);
  return masking === 'all' ? NOT_SHOWN : showValue(argument, masking);
}

const NOT_SHOWN = '(not shown: it may hold a password)';

function unknownOption(rawName: string, name: string): UsageError {
  const known = Object.keys(OPTIONS);
  const meant = rawName.startsWith('--') ? nearestKey(name, known) : undefined;
  return new UsageError(`unknown option ${inert(rawName)}${meant ? `; did you mean --${meant}?` : ''}`);
}

function example(name: string): string {
  if (name === 'config') return ': --config FILE';
  const flag = configFlagNamed(name);
  const value = name === 'ports' ? '10201-10300' : flag?.valueName;
  // A value may itself start with "-" (a negative number, an odd password): --name=-value.
  return `: --${name} ${value}, or --${name}=VALUE for a value that starts with "-"`;
}
