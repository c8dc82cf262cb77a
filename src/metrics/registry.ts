// A Prometheus registry per process, with prom-client's default process and Node.js metrics
// (CPU, memory, event-loop lag, GC, handles), and label values kept to a bounded set.
import { Registry, collectDefaultMetrics } from 'prom-client';

/** Every metric of raftmq starts with it. */
export const METRIC_PREFIX = 'raftmq_';

/** A registry holding the default process metrics; each component adds its own. */
export function createRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return registry;
}

/** The label value every value past a BoundedLabel's limit shares. */
export const OTHER_LABEL_VALUE = '_other';

/**
 * Keeps a label's values to at most `max` distinct ones (the first seen), mapping every later
 * value to OTHER_LABEL_VALUE, so that a client inventing topic names cannot grow the series
 * without bound. `children` caches one labelled child per value (no label hashing per record).
 */
export class BoundedLabel<T> {
  private readonly byValue = new Map<string, T>();
  private other: T | undefined;

  constructor(
    private readonly max: number,
    private readonly make: (value: string) => T,
  ) {}

  get(value: string): T {
    const hit = this.byValue.get(value);
    if (hit !== undefined) return hit;
    if (this.byValue.size < this.max) {
      const made = this.make(value);
      this.byValue.set(value, made);
      return made;
    }
    return (this.other ??= this.make(OTHER_LABEL_VALUE));
  }
}
