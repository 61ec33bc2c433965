import { configFlagNamed, flagOrigin, type FlagValue } from './flags.js';
import { nearestKey, type ConfigProblem } from './problems.js';
import { schema } from './schema.js';
import { showValue, type Masking } from './secrets.js';
import { UNREADABLE, formatNamed } from './value-formats.js';

export interface SchemaLeaf {
  readonly doc: string;
  readonly format: string;
  readonly default: unknown;
  readonly env?: string;
  readonly sensitive?: boolean;
  readonly masking?: Masking;
}

type Section = { readonly [name: string]: unknown };
type Settings = Record<string, unknown>;

export function isLeaf(node: unknown): node is SchemaLeaf {
  return typeof node === 'object' && node !== null && 'format' in node;
}

function walk(section: Section, prefix: string, visit: (key: string, node: unknown) => void): void {
  for (const [name, node] of Object.entries(section)) {
    const key = prefix ? `${prefix}.${name}` : name;
    visit(key, node);
    if (!isLeaf(node)) walk(node as Section, key, visit);
  }
}

/** Every leaf of the schema by dotted key, in schema order. */
export const LEAVES: ReadonlyMap<string, SchemaLeaf> = (() => {
  const leaves = new Map<string, SchemaLeaf>();
  walk(schema, '', (key, node) => isLeaf(node) && leaves.set(key, node));
  return leaves;
})();

/** Every key a file may name, sections included: what a mistyped key is compared with. */
const KNOWN_KEYS: readonly string[] = (() => {
  const keys: string[] = [];
  walk(schema, '', (key) => keys.push(key));
  return keys;
})();

export function valueAt(settings: unknown, key: string): unknown {
  return key.split('.').reduce<unknown>((node, name) => (node as Settings | undefined)?.[name], settings);
}

/** How a message or `stickyport check` may show the value of `key`. */
export function maskingOf(key: string): Masking {
  const leaf = LEAVES.get(key);
  return leaf?.sensitive ? leaf.masking ?? 'all' : 'none';
}

function isPlainObject(value: unknown): value is Settings {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The layers of settings as the loader applies them, with, per key, the layer that set it last
 * (so that a message can say where a bad value came from) and the problems found on the way.
 * Each layer is handed to convict only once unknown keys and misshapen sections are taken out.
 */
export class ConfigLayers {
  private readonly origins = new Map<string, string>([...LEAVES.keys()].map((key) => [key, 'default']));
  readonly problems: ConfigProblem[] = [];

  /** The layer that set `key` last: `default`, a file path, an environment variable, `--config FILE`, `flag --ports`. */
  originOf(key: string): string | undefined {
    return this.origins.get(key);
  }

  /** A problem with `key`, naming the layer that set it and its value, masked as the key needs. */
  problemAt(key: string, text: string, value: unknown): ConfigProblem {
    return { key, text, origin: this.originOf(key), shown: showValue(value, maskingOf(key)) };
  }

  /** The part of a file's `settings` that convict may load. */
  accept(settings: Settings, origin: string): Settings {
    return this.acceptSection(schema, settings, '', origin);
  }

  private acceptSection(section: Section, settings: Settings, prefix: string, origin: string): Settings {
    const accepted: Settings = {};
    for (const [name, value] of Object.entries(settings)) {
      const key = prefix ? `${prefix}.${name}` : name;
      const node = Object.hasOwn(section, name) ? section[name] : undefined;
      if (node === undefined) {
        // The value is not shown: a mistyped `Pasword` holds a password all the same.
        const suggestion = nearestKey(key, KNOWN_KEYS);
        const text = `unknown key${suggestion ? `; did you mean ${suggestion}?` : ''}`;
        this.problems.push({ key, text, origin });
      } else if (isLeaf(node)) {
        // Every leaf holds a scalar; an object or array (however deep) never reaches convict.
        if (typeof value === 'object' && value !== null) {
          const text = formatNamed(node.format).problem(value) ?? 'must not be an object';
          this.problems.push({ ...this.problemAt(key, text, value), origin });
        } else {
          accepted[name] = value;
          this.origins.set(key, origin);
        }
      } else if (isPlainObject(value)) {
        accepted[name] = this.acceptSection(node as Section, value, key, origin);
      } else {
        const keys = Object.keys(node as Section).join(', ');
        this.problems.push({ key, text: `must be a section: an object with the keys ${keys}`, origin });
      }
    }
    return accepted;
  }

  /** The STICKYPORT_* variables, read as the JSON values they stand for. */
  fromEnvironment(env: NodeJS.ProcessEnv): Settings {
    const settings: Settings = {};
    for (const [key, leaf] of LEAVES) {
      const text = leaf.env === undefined ? undefined : env[leaf.env];
      if (text !== undefined) this.readText(settings, key, text, `environment variable ${leaf.env}`);
    }
    return settings;
  }

  /** Command-line flags, in order (a later one wins), read as the environment is. */
  fromFlags(flags: readonly FlagValue[]): Settings {
    const settings: Settings = {};
    for (const { name, text } of flags) {
      const flag = configFlagNamed(name);
      if (!flag) throw new Error(`no configuration flag --${name}`);
      const origin = flagOrigin(name);
      const reading = flag.read(text);
      if ('problem' in reading) {
        // Shown as given: a value for several keys (--ports, --store) is not any one key's.
        const shown = showValue(text, reading.masking ?? maskingOf(reading.key));
        this.problems.push({ key: reading.key, text: reading.problem, origin, shown });
        continue;
      }
      for (const [key, value] of reading.values) this.readText(settings, key, value, origin);
    }
    return settings;
  }

  /** Sets `key` in `settings` from text, as its format reads the environment's. */
  private readText(settings: Settings, key: string, text: string, origin: string): void {
    const leaf = LEAVES.get(key)!;
    const format = formatNamed(leaf.format);
    const value = format.fromEnv(text);
    if (value === UNREADABLE) {
      this.problems.push({ ...this.problemAt(key, format.envProblem ?? 'is not readable', text), origin });
      return;
    }
    const names = key.split('.');
    const parent = names.slice(0, -1).reduce<Settings>((node, name) => (node[name] ??= {}) as Settings, settings);
    parent[names.at(-1)!] = value;
    this.origins.set(key, origin);
  }

  /** Every merged value its format refuses. */
  checkValues(merged: Settings): void {
    for (const [key, leaf] of LEAVES) {
      const value = valueAt(merged, key);
      const problem = formatNamed(leaf.format).problem(value);
      if (problem) this.problems.push(this.problemAt(key, problem, value));
    }
  }
}
