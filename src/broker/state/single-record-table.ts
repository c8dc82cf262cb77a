// A replicated table small enough to be checkpointed whole as one record (`<prefix>state`): the
// retention table and the schedule table. Subclasses say what their snapshot is and how a
// snapshot (or the record) is checked and loaded; this class does the checkpoint bookkeeping.
import { assert } from '../../util/index.ts';
import type { CheckpointOp, ReplicatedTable } from './replicated-table.ts';
import { packr } from './replicated-table.ts';

export abstract class SingleRecordTable<S> implements ReplicatedTable<S> {
  abstract readonly name: string;
  /** Something changed since the last checkpoint taken: the next one writes the record. */
  protected changed = false;
  private readonly recordKey: string;

  constructor(readonly checkpointKeyPrefix: string) {
    this.recordKey = `${checkpointKeyPrefix}state`;
  }

  abstract snapshot(cutAt?: number): S;
  /** Replaces the content with `snapshot`'s, asserting it is well-formed (`what` names its source). */
  protected abstract load(snapshot: S, what: string): void;

  restore(snapshot: S): void {
    this.load(snapshot, 'snapshot');
    this.changed = true;
  }

  takeCheckpoint(ops: CheckpointOp[]): undefined {
    if (this.changed) ops.push({ type: 'put', key: this.recordKey, value: packr.pack(this.snapshot()) });
    this.changed = false;
    return undefined;
  }

  loadCheckpointRecord(key: string, value: Uint8Array): void {
    assert(key === this.recordKey, `state restore: bad key ${key}`);
    this.load(packr.unpack(value) as S, key);
  }

  finishCheckpointLoad(): void {}
}
