import { configFlagNamed, flagOrigin, type FlagValue } from './flags.js';
import { pmsNamesInside, pmsUnknownKey, pmsValueHint } from './pms-names.js';
import { nearestKey, type ConfigProblem } from './problems.js';
import { schema } from './schema.js';
import { hiddenPart, showValue, withoutSecretOutside, type Masking } from './secrets.js';
import { quoted } from '../logging/quoted.js';
import { UNREADABLE, formatNamed } from './value-formats.js';

export interface SchemaLeaf {
  readonly doc: string;
  readonly format: string;
  /** Absent in a mapping or host rule: what they leave out comes from elsewhere. */
  readonly default?: unknown;
  readonly env?: string;
  readonly sensitive?: boolean;
  readonly masking?: Masking;
}

/** A list of values of one format: `Upstream.Urls`. */
export interface ListNode {
  readonly doc: string;
  readonly list: string;
  readonly default?: readonly unknown[];
  readonly sensitive?: boolean;
  readonly masking?: Masking;
}

/** Names with values: `Upstream.Parameters` (`keys` is the format of the names). */
export interface MapNode {
  readonly doc: string;
  readonly map: string;
  readonly keys: string;
  readonly default?: Readonly<Record<string, unknown>>;
}

/** A list of records of one shape: `Mappings`, `HostRules`. */
export interface RecordsNode {
  readonly doc: string;
  readonly records: Section;
  readonly default?: readonly unknown[];
}

/** A key whose value is a list or an object: read here, never handed to convict. */
export type StructuredNode = ListNode | MapNode | RecordsNode;

export type Section = { readonly [name: string]: unknown };
type Settings = Record<string, unknown>;

export function isLeaf(node: unknown): node is SchemaLeaf {
  return typeof node === 'object' && node !== null && 'format' in node;
}

export function isStructured(node: unknown): node is StructuredNode {
  return typeof node === 'object' && node !== null && ('list' in node || 'map' in node || 'records' in node);
}

function walk(section: Section, prefix: string, visit: (key: string, node: unknown) => void): void {
  for (const [name, node] of Object.entries(section)) {
    const key = prefix ? `${prefix}.${name}` : name;
    visit(key, node);
    if (!isLeaf(node) && !isStructured(node)) walk(node as Section, key, visit);
  }
}

/** Every leaf of the schema by dotted key, in schema order (records' leaves are not among them). */
export const LEAVES: ReadonlyMap<string, SchemaLeaf> = (() => {
  const leaves = new Map<string, SchemaLeaf>();
  walk(schema, '', (key, node) => isLeaf(node) && leaves.set(key, node));
  return leaves;
})();

/** Every top-level key whose value is a list or an object: `Upstream.Urls`, `Mappings`, ... */
export const STRUCTURED: ReadonlyMap<string, StructuredNode> = (() => {
  const nodes = new Map<string, StructuredNode>();
  walk(schema, '', (key, node) => isStructured(node) && nodes.set(key, node));
  return nodes;
})();

/** Every key of `section`, sections included: what a mistyped key is compared with. */
function knownKeys(section: Section): string[] {
  const keys: string[] = [];
  walk(section, '', (key) => keys.push(key));
  return keys;
}

const KNOWN_KEYS: readonly string[] = knownKeys(schema);

/** The convict schema: the schema without the keys convict cannot hold (lists, objects). */
export function convictSchema(section: Section = schema): Section {
  const kept: Record<string, unknown> = {};
  for (const [name, node] of Object.entries(section)) {
    if (isStructured(node)) continue;
    kept[name] = isLeaf(node) ? node : convictSchema(node as Section);
  }
  return kept;
}

export function valueAt(settings: unknown, key: string): unknown {
  return key.split('.').reduce<unknown>((node, name) => (node as Settings | undefined)?.[name], settings);
}

/**
 * The schema node of any key, a record's included: `Mappings[2].Upstream.Url` is the leaf
 * `Upstream.Url` of a mapping; `Upstream.Parameters.country` a value of that map.
 */
function nodeAt(key: string): unknown {
  let node: unknown = schema;
  for (const part of key.replace(/\[\d+\]/g, '').split('.')) {
    if (isStructured(node)) {
      if ('records' in node) node = node.records;
      else return 'map' in node ? { doc: '', format: node.map } : node;
    }
    node = typeof node === 'object' && node !== null && Object.hasOwn(node, part) ? (node as Section)[part] : undefined;
    if (node === undefined) return undefined;
  }
  return node;
}

/** How a message or `stickyport check` may show the value of `key`. */
export function maskingOf(key: string): Masking {
  const node = nodeAt(key) as { sensitive?: boolean; masking?: Masking } | undefined;
  if (node?.sensitive) return node.masking ?? 'all';
  // Any login's user name (the client's, the upstream's, a mapping's or a preset's).
  if (key.endsWith('.Username')) return 'after-colon';
  // A record (a mapping, a host rule) or a section inside one written as a string is most often a
  // URL or a login written one level too high (`"Upstream": "http://user:pw@..."` in a host
  // rule, `"Authentication": "user:pw"`): shown as a URL with its credentials masked, or masked
  // whole. (A top-level section written as a string is named without its value.)
  const inRecord = node !== undefined && !isLeaf(node) && (isStructured(node) ? 'records' in node : key.includes('['));
  return inRecord ? 'url-credentials' : 'none';
}

/** `Mappings[1].Listen.Port` -> `Mappings[1].Listen` -> `Mappings[1]` -> `Mappings`. */
function parentKey(key: string): string | undefined {
  const cut = Math.max(key.lastIndexOf('.'), key.lastIndexOf('['));
  return cut > 0 ? key.slice(0, cut) : undefined;
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
  private readonly origins = new Map<string, string>([...LEAVES.keys(), ...STRUCTURED.keys()].map((key) => [key, 'default']));
  /** Lists and objects, as the last layer that set each gave it (a later layer replaces it whole). */
  private readonly structured = new Map<string, unknown>();
  readonly problems: ConfigProblem[] = [];

  /**
   * The layer that set `key` last: `default`, a file path, an environment variable, `--config
   * FILE`, `flag --ports`. A key inside a list comes from the layer that set the list.
   */
  originOf(key: string): string | undefined {
    for (let at: string | undefined = key; at !== undefined; at = parentKey(at)) {
      const origin = this.origins.get(at);
      if (origin !== undefined) return origin;
    }
    return undefined;
  }

  /** The value of a list or object key (`Mappings`, `Upstream.Urls`): the last layer's, or the default. */
  structuredValue(key: string): unknown {
    return this.structured.has(key) ? this.structured.get(key) : STRUCTURED.get(key)?.default;
  }

  /** A problem with `key`, naming the layer that set it and its value, masked as the key needs. */
  problemAt(key: string, text: string, value: unknown): ConfigProblem {
    const masking = maskingOf(key);
    // The explanation may quote the value (`host "..." is not a host name`): what the value's
    // shown form hides is taken out of it too.
    const hidden = typeof value === 'string' ? hiddenPart(value, masking) : undefined;
    const escaped = hidden === undefined ? undefined : quoted(hidden).slice(1, -1);
    const shown = showValue(value, masking);
    return { key, text: withoutSecretOutside(withoutSecretOutside(text, hidden, shown), escaped, shown), origin: this.originOf(key), shown };
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
        // ProxyMapService's names are answered with what to write instead.
        const pms = pmsUnknownKey(key, value);
        if (pms.length > 0) this.problems.push(...pms.map((problem) => ({ ...problem, origin })));
        else {
          const suggestion = nearestKey(key, KNOWN_KEYS);
          this.problems.push({ key, text: `unknown key${suggestion ? `; did you mean ${suggestion}?` : ''}`, origin });
        }
      } else if (isStructured(node)) {
        const problems = this.shapeProblems(key, node, value);
        if (problems.length > 0) this.problems.push(...problems.map((problem) => ({ ...problem, origin })));
        else {
          this.structured.set(key, value);
          this.origins.set(key, origin);
        }
      } else if (isLeaf(node)) {
        // Every leaf holds a scalar; an object or array (however deep) never reaches convict.
        if (typeof value === 'object' && value !== null) {
          const text = formatNamed(node.format).problem(value) ?? 'must not be an object';
          this.problems.push({ ...this.problemAt(key, text, value), origin });
        } else {
          // Judged in its own layer, whether or not a later one sets the key too: a bad value
          // does not wait, unseen, for the day the layer over it goes.
          const problem = formatNamed(node.format).problem(value);
          if (problem) this.problems.push({ ...this.problemAt(key, withPmsHint(key, problem, value), value), origin });
          else {
            accepted[name] = value;
            this.origins.set(key, origin);
          }
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
    // Judged in its own layer, as a file's value is (acceptSection).
    const problem = format.problem(value);
    if (problem) {
      this.problems.push({ ...this.problemAt(key, problem, value), origin });
      return;
    }
    const names = key.split('.');
    const parent = names.slice(0, -1).reduce<Settings>((node, name) => (node[name] ??= {}) as Settings, settings);
    parent[names.at(-1)!] = value;
    this.origins.set(key, origin);
  }

  /** Every merged value its format refuses, inside lists and records too. */
  checkValues(merged: Settings): void {
    for (const [key, leaf] of LEAVES) {
      const value = valueAt(merged, key);
      const problem = formatNamed(leaf.format).problem(value);
      if (problem) this.problems.push(this.problemAt(key, problem, value));
    }
    for (const [key, node] of STRUCTURED) this.checkStructured(key, node, this.structuredValue(key));
  }

  private checkStructured(key: string, node: StructuredNode, value: unknown): void {
    const shape = this.shapeProblems(key, node, value);
    if (shape.length > 0) {
      this.problems.push(...shape);
      return;
    }
    if ('list' in node) {
      const format = formatNamed(node.list);
      (value as unknown[]).forEach((item, i) => this.checkLeafValue(`${key}[${i}]`, format.problem(item), item));
    } else if ('map' in node) {
      const names = formatNamed(node.keys);
      const values = formatNamed(node.map);
      for (const [name, item] of Object.entries(value as Settings)) {
        const nameProblem = names.problem(name);
        if (nameProblem) this.problems.push({ key: `${key}.${name}`, text: `is not a usable name: it ${nameProblem}`, origin: this.originOf(key) });
        else this.checkLeafValue(`${key}.${name}`, values.problem(item), item);
      }
    } else {
      (value as unknown[]).forEach((item, i) => this.checkRecord(node.records, item, `${key}[${i}]`));
    }
  }

  private checkRecord(section: Section, value: unknown, prefix: string): void {
    if (!isPlainObject(value)) {
      const keys = Object.keys(section).join(', ');
      this.problems.push(this.problemAt(prefix, `must be an object with some of the keys ${keys}`, value));
      return;
    }
    for (const [name, item] of Object.entries(value)) {
      const key = `${prefix}.${name}`;
      const node = Object.hasOwn(section, name) ? section[name] : undefined;
      if (node === undefined) {
        const pms = pmsUnknownKey(key, item);
        const problems = pms.length > 0 ? pms : [{ key, text: sharedKeyText(key, item) ?? unknownKeyText(key, prefix, section) }];
        this.problems.push(...problems.map((problem) => ({ ...problem, origin: this.originOf(key) })));
      } else if (isStructured(node)) {
        this.checkStructured(key, node, item);
      } else if (isLeaf(node)) {
        const format = formatNamed(node.format);
        const whole = typeof item !== 'object' || item === null || (format.takesList === true && Array.isArray(item));
        const problem = whole ? format.problem(item) : (format.problem(item) ?? 'must not be an object');
        this.checkLeafValue(key, problem && withPmsHint(key, problem, item), item);
      } else {
        this.checkRecord(node as Section, item, key);
      }
    }
  }

  /**
   * The problem of a list or object key of another shape (none when it has its own), with, for
   * ProxyMapService's `{ "Items": [...], "Files": [...] }`, the PMS names inside it: nothing else
   * there is read.
   */
  private shapeProblems(key: string, node: StructuredNode, value: unknown): ConfigProblem[] {
    const shape = shapeProblem(node, value);
    if (!shape) return [];
    const hint = pmsValueHint(key, value);
    if (hint === undefined) return [this.problemAt(key, shape, value)];
    const origin = this.originOf(key);
    return [this.problemAt(key, `${shape}; ${hint}`, value), ...pmsNamesInside(key, value).map((problem) => ({ ...problem, origin }))];
  }

  private checkLeafValue(key: string, problem: string | undefined, value: unknown): void {
    if (problem) this.problems.push(this.problemAt(key, problem, value));
  }
}

/** What is wrong with the shape of a list or object value, or undefined. */
function shapeProblem(node: StructuredNode, value: unknown): string | undefined {
  if ('map' in node) return isPlainObject(value) ? undefined : 'must be an object of names and values, such as { "country": "us" }';
  if (Array.isArray(value)) return undefined;
  return 'records' in node ? 'must be a list of objects: [ { ... }, { ... } ]' : 'must be a list: [ "...", "..." ]';
}

/** A value's problem, and what ProxyMapService meant by it where the value is one of its own (a File action). */
function withPmsHint(key: string, problem: string, value: unknown): string {
  const hint = pmsValueHint(key, value);
  return hint === undefined ? problem : `${problem}; ${hint}`;
}

/**
 * A key written inside a mapping that only the top level holds (timeouts, limits, Session,
 * SessionAPI, SessionStore: shared by every mapping): where to write it instead.
 */
function sharedKeyText(key: string, value: unknown): string | undefined {
  const relative = /^Mappings\[\d+\]\.(.+)$/.exec(key)?.[1];
  if (relative === undefined || relative.startsWith('Mappings') || !isTopLevelValue(relative, value)) return undefined;
  return `unknown key in a mapping: ${relative} is shared by every mapping; set it at the top level`;
}

/** Whether `value` at `key` is what the top level holds there: a setting, or a section all of whose keys are. */
function isTopLevelValue(key: string, value: unknown): boolean {
  if (LEAVES.has(key)) return true;
  if (!isPlainObject(value)) return false;
  const names = Object.keys(value);
  return names.length > 0 && names.every((name) => isTopLevelValue(`${key}.${name}`, (value as Settings)[name]));
}

/** An unknown key inside a record, with the key of the same record it most likely meant. */
function unknownKeyText(key: string, prefix: string, section: Section): string {
  const relative = key.slice(prefix.length + 1);
  const suggestion = nearestKey(relative, knownKeys(section));
  return `unknown key${suggestion ? `; did you mean ${prefix}.${suggestion}?` : ''}`;
}
