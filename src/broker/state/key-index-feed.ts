// What fills the key index: the send batches apply takes (indexBatchKeys) and, after a restart,
// the retained log below the applied checkpoint (KeyIndexRebuilder), read newest first so that a
// log longer than the index costs only the part the index can hold.
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

interface Step {
  readonly hashes: number[];
  readonly logIndexes: number[];
  readonly slots: number[];
}

/**
 * Refills the index of a restarted replica from the log entries [firstIndex, lastIndex] (those
 * applied before the restart), newest first, until the index would be full, the log's start is
 * reached, or `bytesMax` were read; a step at a time, so that a long log does not hold up the
 * start (apply files newer keys meanwhile). `finish` then files what was read oldest first, in
 * front of what apply filed since, as apply would have.
 */
export class KeyIndexRebuilder {
  private readonly steps: Step[] = [];
  private keys = 0;
  private bytesRead = 0;
  private entriesRead = 0;
  private hi: number;

  constructor(
    private readonly index: KeyIndex,
    private readonly read: (from: number, maxBytes: number) => readonly LogEntryRead[],
    private readonly firstIndex: number,
    readonly lastIndex: number,
    private readonly bytesMax: number,
  ) {
    this.hi = lastIndex;
  }

  get done(): boolean {
    return this.hi < this.firstIndex || this.keys >= this.index.capacity || this.bytesRead >= this.bytesMax;
  }

  /** Entries read so far, and how many there are to read at most. */
  get progress(): { readonly entriesRead: number; readonly entries: number } {
    return { entriesRead: this.entriesRead, entries: Math.max(0, this.lastIndex - this.firstIndex + 1) };
  }

  /** Reads the next REBUILD_STEP_ENTRIES entries down (nothing once done). */
  step(): void {
    if (this.done) return;
    const { hi } = this;
    const lo = Math.max(this.firstIndex, hi - REBUILD_STEP_ENTRIES + 1);
    const step: Step = { hashes: [], logIndexes: [], slots: [] };
    for (let i = lo; i <= hi; ) {
      // Only about the step's bytes: a read stops at bytes, not at hi, and what it returns past hi
      // was read (and checked) for nothing. The first read learns the entries' mean size.
      const wanted = this.entriesRead === 0 ? REBUILD_READ_BYTES : Math.ceil(((hi - i + 1) * this.bytesRead) / this.entriesRead) + 1;
      const records = this.read(i, Math.min(REBUILD_READ_BYTES, wanted));
      if (records.length === 0) break;
      for (const r of records) {
        if (r.index > hi) break;
        this.entriesRead++;
        this.bytesRead += r.data.byteLength;
        collectKeys(this.index, r, step);
      }
      i = records[records.length - 1]!.index + 1;
    }
    this.keys += step.hashes.length;
    this.steps.push(step);
    this.hi = lo - 1;
  }

  /** Files the keys read, oldest first, before those apply filed since the rebuild began. */
  finish(): KeyIndexRebuild {
    const since: Step = { hashes: [], logIndexes: [], slots: [] };
    this.index.forEachOldestFirst((hash, logIndex, slot) => {
      since.hashes.push(hash);
      since.logIndexes.push(logIndex);
      since.slots.push(slot);
    });
    this.index.clear();
    for (let s = this.steps.length - 1; s >= 0; s--) fileStep(this.index, this.steps[s]!);
    fileStep(this.index, since);
    this.steps.length = 0;
    return { fromIndex: this.hi + 1, entriesRead: this.entriesRead, bytesRead: this.bytesRead, keys: this.keys };
  }
}

function fileStep(index: KeyIndex, { hashes, logIndexes, slots }: Step): void {
  for (let k = 0; k < hashes.length; k++) index.add(hashes[k]!, logIndexes[k]!, slots[k]!);
}

/** The hashed keys of one entry, if it is a well-formed send batch (anything else is skipped:
 *  a rebuild never stops a start). */
function collectKeys(index: KeyIndex, r: LogEntryRead, out: Step): void {
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
