// `--retention S`: the replicas keep messages for S seconds, so retention cuts the log, marks
// are written and deleted, and a replica behind the cut (a wiped one) gets a snapshot during the
// run. Marks come every segment's worth of log, so segments are the smallest allowed (1 MiB);
// deletion runs at every hour; checkpoints (after which cut segments and marks are deleted)
// every 200 ms.
import fs from 'node:fs';
import path from 'node:path';

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

/** How many times the replica whose store is `dir` logged installing a snapshot from the master
 *  (its logs/broker.N.log files; broker.log is a link to the newest one). */
export function snapshotsInstalled(dir: string): number {
  const logs = path.join(dir, 'logs');
  let names: string[];
  try {
    names = fs.readdirSync(logs);
  } catch {
    return 0;
  }
  const rotated = names.filter((n) => /^broker\.\d+\.log$/.test(n));
  let count = 0;
  for (const name of rotated.length > 0 ? rotated : names.filter((n) => n === 'broker.log')) {
    const text = fs.readFileSync(path.join(logs, name), 'utf8');
    for (let at = text.indexOf(INSTALLED); at >= 0; at = text.indexOf(INSTALLED, at + 1)) count++;
  }
  return count;
}

/** replica.ts's log line when it installed a snapshot. */
const INSTALLED = 'installed a snapshot from the master';
