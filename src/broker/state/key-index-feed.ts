// What fills the key index: the send batches apply takes (indexBatchKeys) and, at start, the
// retained log below the applied checkpoint (rebuildKeyIndex), read newest first so that a log
// longer than the index costs only the part the index can hold.
import type { SendBatchHead } from '../commands.ts';
import { commandKindOf, decodeSendBatchHead } from '../commands.ts';
import { CommandDecodeError } from '../errors.ts';
import { forEachMessageKeys } from '../send-batch-encoding.ts';
import { forEachKeyHash, type KeyIndex } from './key-index.ts';

/** Log entries read per step of the rebuild. */
const REBUILD_STEP_ENTRIES = 4096;
/** Bytes read per read call of the rebuild. */
const REBUILD_READ_BYTES = 4 * 1024 * 1024;

const decodeError = (why: string): Error => new CommandDecodeError(why);

/** Files the keys of a send batch just applied at `logIndex`. */
export function indexBatchKeys(index: KeyIndex, head: SendBatchHead, data: Uint8Array, logIndex: number): void {
  const seed = index.seedOf(head.topic);
  forEachMessageKeys(data, head, decodeError, (slot, start, end) => index.addKeys(seed, data, start, end, logIndex, slot));
}

export interface LogEntryRead {
  readonly index: number;
  readonly type: number;
  readonly data: Uint8Array;
}

export interface KeyIndexRebuild {
  /** The lowest log index read (lastIndex + 1 when none was). */
  readonly fromIndex: number;
  readonly entriesRead: number;
  readonly bytesRead: number;
  readonly keys: number;
}

/**
 * Fills an empty index from the log entries [firstIndex, lastIndex], newest first, until the
 * index is full, the log's start is reached, or `bytesMax` were read; then files them oldest
 * first, as apply would have. `read(from, maxBytes)` is the commitlog's read.
 */
export function rebuildKeyIndex(index: KeyIndex, read: (from: number, maxBytes: number) => readonly LogEntryRead[], firstIndex: number, lastIndex: number, bytesMax: number): KeyIndexRebuild {
  const steps: { hashes: number[]; logIndexes: number[]; slots: number[] }[] = [];
  let keys = 0;
  let bytesRead = 0;
  let entriesRead = 0;
  let hi = lastIndex;
  while (hi >= firstIndex && keys < index.capacity && bytesRead < bytesMax) {
    const lo = Math.max(firstIndex, hi - REBUILD_STEP_ENTRIES + 1);
    const step = { hashes: [] as number[], logIndexes: [] as number[], slots: [] as number[] };
    for (let i = lo; i <= hi; ) {
      const records = read(i, REBUILD_READ_BYTES);
      if (records.length === 0) break;
      for (const r of records) {
        if (r.index > hi) break;
        entriesRead++;
        bytesRead += r.data.byteLength;
        collectKeys(index, r, step);
      }
      i = records[records.length - 1]!.index + 1;
    }
    keys += step.hashes.length;
    steps.push(step);
    hi = lo - 1;
  }
  for (let s = steps.length - 1; s >= 0; s--) {
    const { hashes, logIndexes, slots } = steps[s]!;
    for (let k = 0; k < hashes.length; k++) index.add(hashes[k]!, logIndexes[k]!, slots[k]!);
  }
  return { fromIndex: hi + 1, entriesRead, bytesRead, keys };
}

/** The hashed keys of one entry, if it is a well-formed send batch (anything else is skipped:
 *  a rebuild never stops a start). */
function collectKeys(index: KeyIndex, r: LogEntryRead, out: { hashes: number[]; logIndexes: number[]; slots: number[] }): void {
  if (r.type !== 0 || r.data.byteLength < 2) return;
  let head: SendBatchHead;
  try {
    if (commandKindOf(r.data) !== 'sendBatch') return;
    head = decodeSendBatchHead(r.data);
    const seed = index.seedOf(head.topic);
    forEachMessageKeys(r.data, head, decodeError, (slot, start, end) => {
      forEachKeyHash(seed, r.data, start, end, (hash) => {
        out.hashes.push(hash);
        out.logIndexes.push(r.index);
        out.slots.push(slot);
      });
    });
  } catch {
    return;
  }
}
