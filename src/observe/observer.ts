import type { Observe } from './request-record.js';

/** One Observe that hands each record to every sink, or undefined when there is none. */
export function combine(sinks: ReadonlyArray<Observe | undefined>): Observe | undefined {
  const present = sinks.filter((sink): sink is Observe => sink !== undefined);
  if (present.length === 0) return undefined;
  if (present.length === 1) return present[0];
  return (record) => {
    for (const sink of present) sink(record);
  };
}
