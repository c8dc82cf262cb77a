// `--retention S`: the replicas keep messages for S seconds, so retention cuts the log, marks
// are written and deleted, and a replica behind the cut (a wiped one) gets a snapshot during the
// run. Marks come every segment's worth of log, so segments are the smallest allowed (1 MiB);
// deletion runs at every hour; checkpoints (after which cut segments and marks are deleted)
// every 200 ms.
import path from 'node:path';
import { LOG_SNAPSHOT_INSTALLED, logLinesIn } from '../broker/index.ts';

/** The replicas' commit log segment size with retention on (mappedFileSizeCommitLog's minimum). */
export const RETENTION_SEGMENT_BYTES = 1024 * 1024;
const CHECKPOINT_INTERVAL_MS = 200;
const EVERY_HOUR = Array.from({ length: 24 }, (_, h) => String(h)).join(';');

/** broker.conf keys for a retention of `seconds` (fileReservedTime is in hours). */
export function retentionConfig(seconds: number): Record<string, string> {
  if (!(seconds > 0)) throw new Error(`retention: ${seconds} seconds`);
  return {
    mappedFileSizeCommitLog: String(RETENTION_SEGMENT_BYTES),
    fileReservedTime: String(seconds / 3600),
    deleteWhen: EVERY_HOUR,
    checkpointIntervalMs: String(CHECKPOINT_INTERVAL_MS),
  };
}

/** How many times the replica whose store is `dir` logged installing a snapshot from the master. */
export function snapshotsInstalled(dir: string): number {
  let count = 0;
  for (const line of logLinesIn(path.join(dir, 'logs'))) if (line.includes(LOG_SNAPSHOT_INSTALLED)) count++;
  return count;
}
