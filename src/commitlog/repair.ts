// Repair of a commitlog that recovery refuses (STORE_CORRUPT: a flipped byte or a record cut
// short inside the fdatasync'd range): keep the valid prefix, cut everything from the first bad
// byte on. What was cut may have been acknowledged, so the replica must get it back from the
// group (its hard state says recovering: it does not vote until a leader has caught it up).
import fs from 'node:fs';
import path from 'node:path';
import { Checkpoint } from './checkpoint.ts';
import { FileCommitLog } from './commit-log.ts';
import { CommitLogError } from './errors.ts';
import type { CommitLogOptions } from './types.ts';

/** Cuts in one repair at most: each removes data or a file, so a store runs out of them. */
const REPAIR_CUTS_MAX = 64;
const SEGMENT_NAME = /^\d{20}$/;

export interface RepairReport {
  /** What was cut, one line each (empty: the store opened as it was). */
  readonly cuts: readonly string[];
  /** The log's last index after the repair. */
  readonly lastIndex: number;
}

/** Opens the store at options.dir and, while recovery refuses it as corrupt, cuts it at the bad
 *  place and tries again. The store must not be open elsewhere. Other errors are thrown. */
export async function repairCommitLog(options: CommitLogOptions): Promise<RepairReport> {
  const cuts: string[] = [];
  for (let round = 0; round <= REPAIR_CUTS_MAX; round++) {
    try {
      const log = await FileCommitLog.open(options);
      const lastIndex = log.lastIndex();
      await log.close();
      return { cuts, lastIndex };
    } catch (err) {
      if (!(err instanceof CommitLogError) || err.code !== 'STORE_CORRUPT' || err.location === undefined || round === REPAIR_CUTS_MAX) throw err;
      cuts.push(cutAt(options.dir, err.location.file, err.location.offset, err.message));
    }
  }
  throw new Error('unreachable');
}

/** Cuts the store at a bad place; returns what it did. */
function cutAt(dir: string, file: string, offset: number, why: string): string {
  const dataDir = path.join(dir, 'data');
  const indexDir = path.join(dir, 'index');
  if (path.dirname(file) === indexDir) {
    // The index is derived from the segments: recovery rebuilds a missing one.
    for (const name of fs.readdirSync(indexDir)) fs.rmSync(path.join(indexDir, name), { force: true });
    return `removed the index (rebuilt from the segments): ${why}`;
  }
  const segments = fs.existsSync(dataDir) ? fs.readdirSync(dataDir).filter((n) => SEGMENT_NAME.test(n)).sort() : [];
  const name = path.dirname(file) === dataDir ? path.basename(file) : null;
  // A bad segment keeps its bytes before `offset`; the data dir itself (no segment holds the
  // flushed data) keeps nothing.
  const start = name !== null && SEGMENT_NAME.test(name) ? Number(name) : 0;
  const keepBytes = name !== null ? offset : 0;
  let removed = 0;
  let removedBytes = 0;
  for (const seg of segments) {
    const p = path.join(dataDir, seg);
    if (Number(seg) > start || (name === null && Number(seg) >= start)) {
      removedBytes += fs.statSync(p).size;
      fs.rmSync(p, { force: true });
      removed++;
    }
  }
  let cutBytes = 0;
  if (name !== null && fs.existsSync(file)) {
    cutBytes = Math.max(0, fs.statSync(file).size - keepBytes);
    fs.truncateSync(file, keepBytes);
  }
  // flushedPos said the cut bytes were durable: it now ends where the kept data ends.
  const { checkpoint } = Checkpoint.open(dir);
  try {
    const position = start + keepBytes;
    if (checkpoint.state.flushedPos > position) {
      checkpoint.write({ ...checkpoint.state, flushedPos: position });
      fs.fsyncSync(checkpoint.fd);
    }
  } finally {
    checkpoint.close();
  }
  const where = name !== null ? `${file} at byte ${keepBytes}` : `${dataDir} (no segment holds the flushed data)`;
  return `cut ${where}: ${cutBytes} bytes there and ${removed} later segment(s) (${removedBytes} bytes) removed: ${why}`;
}
