// A snapshot: the whole replicated state at one applied index, self-contained and serializable,
// for a replica that is behind the log's retained start. It holds every table (topics, consume
// queues, consumer offsets, ...) but no message bodies: in a broker the log is the data, and the
// consume queues point into the log after the snapshot's index.
import { packr } from './replicated-table.ts';
import type { TableSnapshots } from './tables.ts';

export const SNAPSHOT_FORMAT_VERSION = 1;

export interface Snapshot {
  readonly formatVersion: number;
  /** The state is the result of applying entries 1..appliedIndex. */
  readonly appliedIndex: number;
  readonly appliedTerm: number;
  readonly tables: TableSnapshots;
}

/** Canonical bytes: two machines at the same state give the same bytes. */
export function encodeSnapshot(snapshot: Snapshot): Uint8Array {
  return packr.pack(snapshot);
}
