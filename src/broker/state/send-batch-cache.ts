// Recent send batches for pulls. Apply keeps a batch's entry bytes (the tail is what
// long-polling consumers read next); the first pull decodes them once, so a pull of 32 messages
// of one batch decodes it once. Not replicated state: a cache over the log.
import { assert } from '../../util/index.ts';
import type { SendBatchCommand, SendBatchHead } from '../commands.ts';
import { decodeCommand, decodeSendBatchHead } from '../commands.ts';

/** Decoded send batches kept for pulls. */
export const DECODED_BATCH_CACHE_COUNT_MAX = 64;
/** Bytes of entry data the cache may keep alive. */
export const DECODED_BATCH_CACHE_BYTES_MAX = 32 * 1024 * 1024;

/** A recent send batch: decoded once a pull has read it, its entry bytes until then. */
interface CachedBatch {
  readonly cmd: SendBatchCommand | null;
  readonly data: Uint8Array | null;
  readonly bytes: number;
}

export type BatchHead = Pick<SendBatchHead, 'topic' | 'queueId' | 'storeTimestamp'>;

export class SendBatchCache {
  /** logIndex -> batch, least recently used first. */
  private readonly batches = new Map<number, CachedBatch>();
  private bytes = 0;

  /** `readEntry`: the committed log entry's data, undefined when the log does not have it. */
  constructor(private readonly readEntry: (logIndex: number) => Uint8Array | undefined) {}

  /** Decoded batches currently cached. */
  get size(): number {
    return this.batches.size;
  }

  /** Keeps the entry bytes of a batch just applied (decoded on its first read). */
  putApplied(logIndex: number, data: Uint8Array): void {
    this.put(logIndex, { cmd: null, data, bytes: data.length });
  }

  /** The decoded send batch at `logIndex`; undefined if the log does not have it. */
  batchAt(logIndex: number): SendBatchCommand | undefined {
    const hit = this.batches.get(logIndex);
    if (hit !== undefined && hit.cmd !== null) {
      this.batches.delete(logIndex);
      this.batches.set(logIndex, hit);
      return hit.cmd;
    }
    const data = hit?.data ?? this.readEntry(logIndex);
    if (data === undefined || data === null) return undefined;
    let cmd;
    try {
      cmd = decodeCommand(data);
    } catch (err) {
      assert(false, `state machine: log entry ${logIndex} is not a command: ${(err as Error).message}`);
    }
    assert(cmd.kind === 'sendBatch', `state machine: log entry ${logIndex} is ${cmd.kind}, not a send batch`);
    this.put(logIndex, { cmd, data: null, bytes: data.length });
    return cmd;
  }

  /** The head of the send batch at `logIndex`, without decoding its messages; undefined if the
   *  log does not have it. */
  headAt(logIndex: number): BatchHead | undefined {
    const hit = this.batches.get(logIndex);
    if (hit?.cmd) return hit.cmd;
    const data = hit?.data ?? this.readEntry(logIndex);
    if (data === undefined || data === null) return undefined;
    try {
      return decodeSendBatchHead(data);
    } catch (err) {
      assert(false, `state machine: log entry ${logIndex} is not a send batch: ${(err as Error).message}`);
    }
  }

  clear(): void {
    this.batches.clear();
    this.bytes = 0;
  }

  private put(logIndex: number, batch: CachedBatch): void {
    if (batch.bytes > DECODED_BATCH_CACHE_BYTES_MAX) return;
    const old = this.batches.get(logIndex);
    if (old !== undefined) {
      this.batches.delete(logIndex);
      this.bytes -= old.bytes;
    }
    this.batches.set(logIndex, batch);
    this.bytes += batch.bytes;
    while (this.batches.size > DECODED_BATCH_CACHE_COUNT_MAX || this.bytes > DECODED_BATCH_CACHE_BYTES_MAX) {
      const [oldest, v] = this.batches.entries().next().value as [number, CachedBatch];
      this.batches.delete(oldest);
      this.bytes -= v.bytes;
    }
  }
}
