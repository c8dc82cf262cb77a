// Message lookups for operators: by msgId (RocketMQ's viewMessage: the id names the log entry and
// the slot in it) and by key (queryMessage, through the key index). A message counts as found
// only where its consume queue holds it: a batch refused on apply, or a msgId that names some
// other entry, finds nothing (and never trips the state machine's assertions).
import { commandKindOf, decodeSendBatchHead } from '../commands.ts';
import { SLOT_RADIX, type ConsumeQueue } from '../consume-queue.ts';
import type { StoredMessage } from '../../protocol/index.ts';
import type { KeyIndex } from './key-index.ts';
import { storedMessageOf, type ReadContext } from './reads.ts';

/** Candidates of a key lookup read for each message asked (other keys share hashes). */
const CANDIDATES_PER_RESULT = 4;

export interface LookupContext extends ReadContext {
  readonly appliedIndex: number;
  readonly readEntry: (logIndex: number) => Uint8Array | undefined;
}

/** The message in slot `slot` of the entry at `logIndex`, if it is stored (applied, in its
 *  queue, and still in this replica's log). */
export function messageAt(ctx: LookupContext, logIndex: number, slot: number): StoredMessage | undefined {
  if (!Number.isSafeInteger(logIndex) || logIndex < 1 || logIndex > ctx.appliedIndex || !Number.isInteger(slot) || slot < 0 || slot >= SLOT_RADIX) return undefined;
  const data = ctx.readEntry(logIndex);
  if (data === undefined) return undefined;
  let head;
  try {
    if (commandKindOf(data) !== 'sendBatch') return undefined;
    head = decodeSendBatchHead(data);
  } catch {
    return undefined;
  }
  if (slot >= head.count) return undefined;
  const cq = ctx.tables.consumeQueues.get(head.topic, head.queueId);
  const offset = cq === undefined ? -1 : offsetOf(cq, logIndex * SLOT_RADIX + slot);
  if (offset < 0) return undefined;
  const batch = ctx.batches.batchAt(logIndex);
  return batch === undefined ? undefined : storedMessageOf(ctx.msgIdPrefix, batch, offset, logIndex, slot);
}

/** The queue offset holding `packed` (log index and slot), or -1: packed values grow along a
 *  queue, so a binary search over [minOffset, maxOffset). */
function offsetOf(cq: ConsumeQueue, packed: number): number {
  let lo = cq.minOffset;
  let hi = cq.maxOffset - 1;
  while (lo <= hi) {
    const mid = lo + Math.floor((hi - lo) / 2);
    const at = cq.packedAt(mid);
    if (at === packed) return mid;
    if (at < packed) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

/** The newest stored messages of `topic` whose keys include `key`, at most `max`. */
export function messagesByKey(ctx: LookupContext, index: KeyIndex, topic: string, key: string, max: number): StoredMessage[] {
  const out: StoredMessage[] = [];
  const seen = new Set<string>();
  for (const c of index.candidates(topic, key, max * CANDIDATES_PER_RESULT)) {
    const m = messageAt(ctx, c.logIndex, c.slot);
    if (m === undefined || m.topic !== topic || !m.keys.split(' ').includes(key) || seen.has(m.msgId)) continue;
    seen.add(m.msgId);
    out.push(m);
    if (out.length >= max) break;
  }
  return out;
}
