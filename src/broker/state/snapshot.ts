// A snapshot: the whole replicated state at one applied index, self-contained and serializable,
// for a replica that is behind the log's retained start. It holds every table (topics, consume
// queues, consumer offsets, ...) but no message bodies: in a broker the log is the data, and the
// consume queues point into the log after the snapshot's index.
import { assert } from '../../util/index.ts';
import { packr } from './replicated-table.ts';
import type { BrokerTables, TableSnapshots } from './tables.ts';

/** 3: the producerWindows table. A format 2 snapshot (a mark snapshot kept on disk or sent by a
 *  replica from before) is read as one with no producer windows. */
export const SNAPSHOT_FORMAT_VERSION = 3;
const FORMAT_WITHOUT_PRODUCER_WINDOWS = 2;

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

/** Decodes encodeSnapshot's bytes; the tables are checked when restored. */
export function decodeSnapshot(bytes: Uint8Array): Snapshot {
  const snapshot = packr.unpack(bytes) as Snapshot;
  assert(typeof snapshot === 'object' && snapshot !== null, 'snapshot: not a msgpack map');
  const tables = snapshot.tables as object | null | undefined;
  if (snapshot.formatVersion === FORMAT_WITHOUT_PRODUCER_WINDOWS && typeof tables === 'object' && tables !== null && !('producerWindows' in tables)) {
    return { ...snapshot, formatVersion: SNAPSHOT_FORMAT_VERSION, tables: { ...(tables as Snapshot['tables']), producerWindows: [] } };
  }
  return snapshot;
}

/** Asserts the snapshot's own fields and that it has exactly the tables of `tables`. */
export function checkSnapshot(snapshot: Snapshot, tables: BrokerTables): void {
  assert(snapshot.formatVersion === SNAPSHOT_FORMAT_VERSION, `snapshot: format version ${String(snapshot.formatVersion)}, expected ${SNAPSHOT_FORMAT_VERSION}`);
  const { appliedIndex, appliedTerm } = snapshot;
  assert(Number.isSafeInteger(appliedIndex) && appliedIndex >= 0 && Number.isSafeInteger(appliedTerm) && appliedTerm >= 0, 'snapshot: bad applied index or term');
  const expected = Object.keys(tables).sort().join(',');
  const got = typeof snapshot.tables === 'object' && snapshot.tables !== null ? Object.keys(snapshot.tables).sort().join(',') : '';
  assert(got === expected, `snapshot: tables ${got}, expected ${expected}`);
}
