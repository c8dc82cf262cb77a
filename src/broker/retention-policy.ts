// When the master proposes a retain entry, and where it cuts the log (RocketMQ's rules, by mark
// instead of by file). Pure: the master's clock, the hour and the disk use come in as inputs; the
// decision goes into the log, so every replica cuts at the same index whatever its own clock.
//
// - A mark is due once the log has grown by a segment (mappedFileSizeCommitLog) since the last
//   one: deletion goes by whole segments anyway, so finer marks would not free space sooner.
// - Expired: a mark older than fileReservedTime (every message up to it is at least that old).
// - Expired marks are cut at a deleteWhen hour, or at any hour once the disk is fuller than
//   diskMaxUsedSpaceRatio; above diskSpaceCleanForciblyRatio the oldest mark is cut even if it
//   has not expired (one mark per decision: the master asks again a moment later), as long as a
//   segment's worth of log follows it (the active segment is never deleted anyway, and cutting
//   the marks of the last few entries would free nothing).
// - A cut frees at least a segment's worth of log: an idle broker, whose newest marks hold only
//   retain entries, is not cut mark after mark.
import type { RetentionMark } from './state-machine.ts';

export interface RetentionSettings {
  readonly fileReservedMs: number;
  /** Hours of the day (0..23). */
  readonly deleteWhen: readonly number[];
  readonly diskMaxUsedSpaceRatio: number;
  readonly diskSpaceCleanForciblyRatio: number;
  /** Log bytes between marks. */
  readonly markIntervalBytes: number;
  /** Marks the state keeps at most (no new mark is proposed beyond). */
  readonly markCountMax: number;
}

export interface RetentionInputs {
  readonly nowMs: number;
  /** The master's local hour (0..23). */
  readonly hour: number;
  readonly marks: readonly RetentionMark[];
  /** Log bytes after `index` (as stored). */
  readonly bytesAfter: (index: number) => number;
  /** Where the log is cut now (retainedFrom - 1; 0 before any cut). */
  readonly cutIndex: number;
  /** Percent of the store's disk in use. */
  readonly diskUsedPercent: number;
}

export interface RetentionDecision {
  /** The mark to cut at; 0: none. */
  readonly cutAt: number;
  readonly why: 'mark' | 'expired' | 'expired, disk above diskMaxUsedSpaceRatio' | 'disk above diskSpaceCleanForciblyRatio';
}

/** What to propose now, or null (nothing to do). */
export function decideRetention(s: RetentionSettings, i: RetentionInputs): RetentionDecision | null {
  const { marks } = i;
  const kept = i.bytesAfter(i.cutIndex);
  let expired = 0;
  for (const m of marks) if (i.nowMs - m.atMs >= s.fileReservedMs && kept - i.bytesAfter(m.index) >= s.markIntervalBytes) expired = m.index;
  if (i.diskUsedPercent >= s.diskSpaceCleanForciblyRatio) {
    if (expired > 0) return { cutAt: expired, why: 'expired, disk above diskMaxUsedSpaceRatio' };
    if (marks.length > 0 && i.bytesAfter(marks[0].index) >= s.markIntervalBytes) return { cutAt: marks[0].index, why: 'disk above diskSpaceCleanForciblyRatio' };
  }
  if (expired > 0 && s.deleteWhen.includes(i.hour)) return { cutAt: expired, why: 'expired' };
  if (expired > 0 && i.diskUsedPercent >= s.diskMaxUsedSpaceRatio) return { cutAt: expired, why: 'expired, disk above diskMaxUsedSpaceRatio' };
  const lastMark = marks.at(-1)?.index ?? i.cutIndex;
  if (i.bytesAfter(lastMark) >= s.markIntervalBytes && marks.length < s.markCountMax) return { cutAt: 0, why: 'mark' };
  return null;
}
