// A snapshot: the whole replicated state at one applied index, self-contained and serializable,
// for a replica that is behind the log's retained start. It holds every table (topics, consume
// queues, consumer offsets, ...) but no message bodies: in a broker the log is the data, and the
// consume queues point into the log after the snapshot's index.
import { assert } from '../../util/index.ts';
import { packr } from './replicated-table.ts';
import type { BrokerTables, TableSnapshots } from './tables.ts';

/** 3: the producerWindows table; 4: the queueLocks table; 5: the schedule table. An older
 *  snapshot (a mark snapshot kept on disk or sent by a replica from before) is read with the
 *  tables it predates empty. */
export const SNAPSHOT_FORMAT_VERSION = 5;
/** The oldest format still read. */
const FORMAT_OLDEST_READ = 2;
/** Tables added since FORMAT_OLDEST_READ, with the format that added them (each table's
 *  snapshot is an array of rows: empty is []). */
const TABLES_ADDED: readonly (readonly [table: string, sinceFormat: number])[] = [
  ['producerWindows', 3],
  ['queueLocks', 4],
  ['schedule', 5],
];

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
  const format = snapshot.formatVersion;
  if (Number.isInteger(format) && format >= FORMAT_OLDEST_READ && format < SNAPSHOT_FORMAT_VERSION && typeof tables === 'object' && tables !== null) {
    const upgraded: Record<string, unknown> = { ...tables };
    for (const [table, since] of TABLES_ADDED) {
      if (since > format && !(table in upgraded)) upgraded[table] = [];
    }
    return { ...snapshot, formatVersion: SNAPSHOT_FORMAT_VERSION, tables: upgraded as unknown as Snapshot['tables'] };
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
