import type { Logger } from '../logging/logger.js';
import { reviveSession, type Session, type SessionIdRule } from '../session/session.js';
import { quoted } from '../logging/quoted.js';

// Enough of a bad value to recognise it in the log, never a whole value someone else wrote.
const SHOWN_CHARS = 40;

// Unusable entries of one file logged one by one; the rest are counted in one more line. A
// line each let a 5 MB file of `{}` entries write 1.7 million lines (372 MB) at start.
const SAMPLES = 10;

/**
 * Reads sessions back from a backend. A stored value that cannot be used (not JSON, fields
 * missing or of the wrong type, an id that breaks the id rule, another port's session) is
 * that port's missing session: the caller treats it as absent and the next getOrCreate
 * replaces it. It is logged once per port and value, not on every request that meets it.
 */
export class StoredValues {
  /** Per port, the (shortened) bad value last logged. Bounded by the number of ports. */
  private readonly reported = new Map<number, string>();

  constructor(
    private readonly rule: SessionIdRule,
    private readonly log: Logger,
  ) {}

  /** The session in `text` stored for `port`; undefined when there is none or it is unusable. */
  fromJson(port: number, text: string | null): Session | undefined {
    if (text === null) return undefined;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      this.report(port, text, 'not JSON');
      return undefined;
    }
    return this.fromValue(port, value, text);
  }

  /** The session in an already parsed value; `port` is where it was stored, when the backend says. */
  fromValue(port: number | undefined, value: unknown, text?: string): Session | undefined {
    const { session, problem } = reviveSession(value, this.rule, port);
    if (session) return session;
    this.report(port, text ?? describe(value), problem);
    return undefined;
  }

  /**
   * The sessions among a whole file's entries, each checked as `fromValue` does (`portOf` says
   * which port an entry claims). At most SAMPLES unusable entries are logged one by one, then
   * one line counts the rest; `quiet` logs none (a read-back of what this process wrote).
   */
  fromEntries(entries: readonly unknown[], portOf: (entry: unknown) => number | undefined, quiet = false): Session[] {
    const sessions: Session[] = [];
    let unusable = 0;
    for (const entry of entries) {
      const port = portOf(entry);
      const { session, problem } = reviveSession(entry, this.rule, port);
      if (session) sessions.push(session);
      else if (++unusable <= SAMPLES && !quiet) this.report(port, describe(entry), problem);
    }
    if (unusable > SAMPLES && !quiet) {
      this.log.warn({ count: unusable - SAMPLES }, `ignored more unusable stored sessions: only the first ${SAMPLES} were logged one by one`);
    }
    return sessions;
  }

  /** Logs an unusable value for `port` unless this same value was the last one logged for it. */
  report(port: number | undefined, text: string, problem: string): void {
    const shown = text.length > SHOWN_CHARS ? `${text.slice(0, SHOWN_CHARS)}... (${text.length} chars)` : text;
    if (port !== undefined) {
      if (this.reported.get(port) === shown) return;
      this.reported.set(port, shown);
    }
    this.log.warn({ port, problem, value: shown }, 'ignored an unusable stored session: the port gets a new one');
  }
}

/** The value as text for the log line; never throws, whatever a file holds. */
function describe(value: unknown): string {
  try {
    return typeof value === 'string' ? quoted(value) : (JSON.stringify(value) ?? String(value));
  } catch {
    // Nested too deep for JSON.stringify (String() of a deep array overflows the stack too):
    // throwing here would stop the whole file from loading, and start-up with it.
    return `(${Array.isArray(value) ? 'an array' : typeof value} nested too deep to show)`;
  }
}
