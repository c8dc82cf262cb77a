// The one interface every piece of replicated broker state implements. A table is written to the
// applied-index checkpoint (LevelDB) as what changed since the previous checkpoint, and copied
// whole into a Snapshot; tables.ts lists them, and the state machine reaches its state only
// through that list, so a table that skips a part of this interface does not compile.
import { Packr } from 'msgpackr';
import { assert } from '../../util/index.ts';
import type { BrokerTables } from './tables.ts';

/** One write of a checkpoint's LevelDB batch. */
export type CheckpointOp = { readonly type: 'put'; readonly key: string; readonly value: Uint8Array } | { readonly type: 'del'; readonly key: string };

/** What a table being restored may check itself against. */
export interface RestoreContext {
  /** Tables listed before this one are already restored; later ones are not. */
  readonly tables: BrokerTables;
  /** The applied index the restored state belongs to. */
  readonly appliedIndex: number;
}

export interface ReplicatedTable<S> {
  /** Its key in the tables list and in a Snapshot; names it in assertions. */
  readonly name: string;
  /** The two-character prefix (`x:`) of the checkpoint keys it owns. */
  readonly checkpointKeyPrefix: string;

  /** A self-contained copy of the whole table at the applied index: plain values (msgpack can
   *  carry them) in a canonical order, sharing nothing the table goes on changing. With `cutAt`
   *  (a log index, at most the applied one): as the table would be once retention cut the log up
   *  to and including it (a table that holds nothing of the log ignores it). */
  snapshot(cutAt?: number): S;
  /** Replaces the whole content with `snapshot`'s, checked as a checkpoint restore checks it
   *  (assertions), and counts all of it as changed: the next checkpoint writes it in full. */
  restore(snapshot: S, context: RestoreContext): void;

  /** Adds a put to `ops` for everything changed since the previous call and forgets the change.
   *  Synchronous (the checkpoint holds the state as of its call). Returns what to do once the
   *  batch is durable, if anything. */
  takeCheckpoint(ops: CheckpointOp[]): (() => void) | undefined;
  /** Checkpoint restore: one of its records, in key order. Checks what the record alone shows. */
  loadCheckpointRecord(key: string, value: Uint8Array): void;
  /** Checkpoint restore: every record is loaded; checks against the other tables. */
  finishCheckpointLoad(context: RestoreContext): void;
}

/** Plain msgpack for every persisted value (no msgpackr records), so the bytes depend only on the
 *  values: the checkpoint format and the state digest rely on it. */
export const packr = new Packr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });

/** Runs the validation `check` on restored data: a failure is an assertion naming `what`. */
export function assertRestored(check: () => void, what: string): void {
  try {
    check();
  } catch (err) {
    assert(false, `state restore: bad record ${what}: ${(err as Error).message}`);
  }
}

export function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
