// Replicated table: how much of the log is retained, and the retention marks. Checkpoint record
// `r:state` -> [retainedFrom, marks].
//
// A mark is a retain entry's own index: every replica, applying it, keeps a snapshot of the state
// as it would be with the log below the mark gone (retention-marks.ts). Retention only ever cuts
// the log at a mark, so a replica behind the cut can be sent exactly the state it needs and then
// the retained log after the mark.
import { assert } from '../../util/index.ts';
import { SingleRecordTable } from './single-record-table.ts';

/** Marks kept. A master proposes no new mark while this many wait (retention then cuts less
 *  finely until older ones are passed). */
export const RETENTION_MARK_COUNT_MAX = 4096;

export interface RetentionMark {
  /** Log index of the retain entry that made it. */
  readonly index: number;
  /** The master's clock when it proposed the entry (ms): the mark's messages are no newer. */
  readonly atMs: number;
}

/** [retainedFrom, [[index, atMs]...]] */
export type RetentionSnapshot = readonly [retainedFrom: number, marks: readonly (readonly [index: number, atMs: number])[]];

const KEY_PREFIX = 'r:';

export class RetentionTable extends SingleRecordTable<RetentionSnapshot> {
  readonly name = 'retention';
  private retainedFromValue = 1;
  private markList: RetentionMark[] = [];

  constructor() {
    super(KEY_PREFIX);
  }

  /** First log index retained: entries below it are deleted (or will be, on every replica). */
  get retainedFrom(): number {
    return this.retainedFromValue;
  }

  /** Marks after retainedFrom - 1, oldest first. */
  get marks(): readonly RetentionMark[] {
    return this.markList;
  }

  hasMark(index: number): boolean {
    return this.markList.some((m) => m.index === index);
  }

  /** Whether the log may be cut at `index`: a mark, or at or below the cut already made (a
   *  replica restored from a mark's snapshot holds that mark, and every earlier one, as its cut,
   *  where the others still hold them as marks: a cut there must do the same on both, nothing). */
  canCutAt(index: number): boolean {
    return index < this.retainedFromValue || this.hasMark(index);
  }

  /** Drops the log up to and including mark `index` (nothing if it is cut there already). */
  cutAt(index: number): void {
    assert(this.canCutAt(index), `retention: ${index} is not a mark`);
    if (index < this.retainedFromValue) return;
    this.retainedFromValue = index + 1;
    this.markList = this.markList.filter((m) => m.index > index);
    this.changed = true;
  }

  addMark(mark: RetentionMark): void {
    const last = this.markList.at(-1);
    assert(last === undefined || mark.index > last.index, 'retention: marks only grow');
    assert(this.markList.length < RETENTION_MARK_COUNT_MAX, 'retention: too many marks');
    this.markList.push(mark);
    this.changed = true;
  }

  snapshot(cutAt = 0): RetentionSnapshot {
    const marks = this.markList.filter((m) => m.index > cutAt).map((m) => [m.index, m.atMs] as const);
    return [cutAt > 0 ? cutAt + 1 : this.retainedFromValue, marks];
  }

  protected load(snapshot: RetentionSnapshot, what: string): void {
    assert(Array.isArray(snapshot) && snapshot.length === 2 && Array.isArray(snapshot[1]), `state restore: ${what}: retention is not [retainedFrom, marks]`);
    const [retainedFrom, marks] = snapshot;
    assert(Number.isSafeInteger(retainedFrom) && retainedFrom >= 1, `state restore: ${what}: bad retainedFrom`);
    assert(marks.length <= RETENTION_MARK_COUNT_MAX, `state restore: ${what}: too many marks`);
    let prev = retainedFrom - 1;
    const list: RetentionMark[] = [];
    for (const m of marks) {
      assert(Array.isArray(m) && m.length === 2 && Number.isSafeInteger(m[0]) && m[0] > prev && Number.isSafeInteger(m[1]) && m[1] >= 0, `state restore: ${what}: bad retention mark`);
      list.push({ index: m[0], atMs: m[1] });
      prev = m[0];
    }
    this.retainedFromValue = retainedFrom;
    this.markList = list;
  }
}
