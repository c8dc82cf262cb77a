// What the state machine takes and answers: applied entries and their results, read results.
import type { ErrorCode, QueueRef, SendBatchResult, SendResultItem, StoredMessage } from '../../protocol/index.ts';

/** What an entry's apply returns to whoever proposed it. Rejections are deterministic: every
 *  replica computes the same result. */
export type ApplyResult =
  | { readonly type: 'noop' }
  /** `results` is built from `batch` when read (only the master answers a producer).
   *  `duplicate`: an idempotent producer's retry of a batch stored before, answered with that
   *  batch's result and stored nothing. */
  | { readonly type: 'sendResult'; readonly batch: SendBatchResult; readonly results: readonly SendResultItem[]; readonly duplicate?: true }
  | { readonly type: 'ok' }
  /** Indexes (into the command's entries) of commits that were not applied: unknown topic or
   *  queue, an offset past the queue's max offset, or CONSUMER_OFFSET_COUNT_MAX reached.
   *  Normally empty (the master checks the same before proposing). */
  | { readonly type: 'offsetsCommitted'; readonly rejected: readonly number[] }
  /** A lockQueues command: the queues it asked for that its client now holds, in its order. */
  | { readonly type: 'lockedQueues'; readonly queues: readonly QueueRef[] }
  | { readonly type: 'error'; readonly code: ErrorCode; readonly message: string };

/** An entry as the Raft core hands it over (structurally compatible with raft's Entry). */
export interface ApplyEntry {
  readonly index: number;
  readonly term: number;
  /** 0 normal (a broker command), 1 the leader's no-op, 2 a configuration change (src/raft). */
  readonly type: number;
  readonly data: Uint8Array;
}

export interface PullResult {
  readonly messages: StoredMessage[];
  /** Where the next pull should start. */
  readonly nextOffset: number;
  readonly minOffset: number;
  /** The next offset to be assigned in the queue (exclusive). */
  readonly maxOffset: number;
}

export interface QueueBounds {
  readonly minOffset: number;
  readonly maxOffset: number;
}

/** New messages were applied to a queue: messages below maxOffset are now readable. */
export interface AppliedEvent {
  readonly topic: string;
  readonly queueId: number;
  readonly maxOffset: number;
  readonly logIndex: number;
}
export type AppliedListener = (event: AppliedEvent) => void;
