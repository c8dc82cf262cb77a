// Replicated table: per delay level, the schedule offset, the next offset of SCHEDULE_TOPIC queue
// `level - 1` still to deliver (RocketMQ's delayOffset.json, replicated here so that a new master
// continues where the old one stopped). Checkpoint record `d:state` -> [[level, offset]...].
//
// A delivery (a sendBatch with schedule fields) or a skip moves a level's offset from `from` to
// `to` and is refused unless the offset is `from`: a new master that proposes again what its
// predecessor already got committed stores nothing twice.
import { assert } from '../../util/index.ts';
import { DELAY_LEVEL_COUNT_MAX } from '../delay-levels.ts';
import { SingleRecordTable } from './single-record-table.ts';

/** [[level, offset]...], by level; levels at offset 0 are left out. */
export type ScheduleSnapshot = readonly (readonly [level: number, offset: number])[];

const KEY_PREFIX = 'd:';

export interface ScheduleTableOptions {
  /** Test-only planted bug: apply takes every move whatever its `from` (a re-proposed delivery
   *  is stored twice). Never set in production. */
  readonly ignoreFrom?: boolean;
}

export class ScheduleTable extends SingleRecordTable<ScheduleSnapshot> {
  readonly name = 'schedule';
  /** level -> schedule offset (absent: 0). */
  private readonly offsets = new Map<number, number>();

  constructor(private readonly options: ScheduleTableOptions = {}) {
    super(KEY_PREFIX);
  }

  /** The next offset of SCHEDULE_TOPIC queue `level - 1` still to deliver. */
  offsetOf(level: number): number {
    return this.offsets.get(level) ?? 0;
  }

  /** Whether a move from `from` may apply now: the level's offset is still there. */
  admits(level: number, from: number): boolean {
    return this.options.ignoreFrom === true || this.offsetOf(level) === from;
  }

  /** Moves `level`'s offset to `to` (apply checked admits first). */
  advance(level: number, to: number): void {
    assert(level >= 1 && level <= DELAY_LEVEL_COUNT_MAX && Number.isSafeInteger(to) && to >= 0, 'schedule: bad move');
    this.offsets.set(level, to);
    this.changed = true;
  }

  /** SCHEDULE_TOPIC was deleted: its queues start again at 0, and so do the offsets. */
  clear(): void {
    if (this.offsets.size === 0) return;
    this.offsets.clear();
    this.changed = true;
  }

  snapshot(): ScheduleSnapshot {
    return [...this.offsets.entries()].filter(([, o]) => o > 0).sort((a, b) => a[0] - b[0]);
  }

  protected load(snapshot: ScheduleSnapshot, what: string): void {
    assert(Array.isArray(snapshot) && snapshot.length <= DELAY_LEVEL_COUNT_MAX, `state restore: ${what}: schedule is not a list of [level, offset]`);
    this.offsets.clear();
    let prev = 0;
    for (const e of snapshot) {
      assert(Array.isArray(e) && e.length === 2 && Number.isInteger(e[0]) && e[0] > prev && e[0] <= DELAY_LEVEL_COUNT_MAX && Number.isSafeInteger(e[1]) && e[1] >= 0, `state restore: ${what}: bad schedule offset`);
      this.offsets.set(e[0], e[1]);
      prev = e[0];
    }
  }
}
