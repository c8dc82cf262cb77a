// What the master proposes for one delay level (schedule-service.ts runs it on a timer; tests call
// it directly): the due run at the head of SCHEDULE_TOPIC queue `level - 1` that goes to one real
// (topic, queue), as ONE sendBatch that stores it there and moves the level's schedule offset; or
// a scheduleSkip past messages retention deleted, or past a run whose real queue no longer exists.
// Reads applied state and the master's clock; apply decides nothing of this again.
import {
  PROPERTY_DELAY_TIME_LEVEL,
  PROPERTY_ORIGIN_MESSAGE_ID,
  PROPERTY_REAL_QUEUE_ID,
  PROPERTY_REAL_TOPIC,
  SCHEDULE_TOPIC,
  SEND_BATCH_BYTES_MAX,
  SEND_BATCH_COUNT_MAX,
  type MessageInput,
  type StoredMessage,
} from '../protocol/index.ts';
import type { ScheduleSkipCommand, SendBatchCommand } from './commands.ts';
import type { BrokerStateMachine } from './state-machine.ts';

/** Body bytes read per look at a level (a run is cut at SEND_BATCH_BYTES_MAX with metadata). */
const READ_BYTES_MAX = SEND_BATCH_BYTES_MAX;

export type ScheduleProposal = SendBatchCommand | ScheduleSkipCommand;

export interface ScheduleLook {
  /** What to propose now, or null. */
  readonly proposal: ScheduleProposal | null;
  /** When the head message falls due (ms), if it is not yet: the next look before it finds nothing. */
  readonly dueAtMs?: number;
}

const NOTHING: ScheduleLook = { proposal: null };

/** The proposal for `level` (1-based) whose messages wait `delayMs`, at the master's `nowMs`.
 *  `autoCreateQueues`: queues of a real topic that no longer exists (0: skip its messages). */
export function lookAtLevel(sm: BrokerStateMachine, level: number, delayMs: number, nowMs: number, autoCreateQueues: number): ScheduleLook {
  const queueCount = sm.topicQueueCount(SCHEDULE_TOPIC);
  if (queueCount === undefined || level > queueCount) return NOTHING;
  const from = sm.scheduleOffset(level);
  const { minOffset, maxOffset } = sm.queueBounds(SCHEDULE_TOPIC, level - 1);
  // Retention deleted messages before they were due: RocketMQ loses them too; go on after them.
  if (from < minOffset) return { proposal: { kind: 'scheduleSkip', level, from, to: minOffset } };
  if (from >= maxOffset) return NOTHING;
  const read = sm.pull(SCHEDULE_TOPIC, level - 1, from, SEND_BATCH_COUNT_MAX, READ_BYTES_MAX).messages;
  if (read.length === 0) return NOTHING;
  const head = read[0]!;
  const dueAtMs = head.storeTimestamp + delayMs;
  if (dueAtMs > nowMs) return { proposal: null, dueAtMs };
  const topic = head.properties[PROPERTY_REAL_TOPIC];
  const queueId = Number(head.properties[PROPERTY_REAL_QUEUE_ID]);
  const run: MessageInput[] = [];
  let bytes = 0;
  for (const m of read) {
    if (m.storeTimestamp + delayMs > nowMs || m.properties[PROPERTY_REAL_TOPIC] !== topic || Number(m.properties[PROPERTY_REAL_QUEUE_ID]) !== queueId) break;
    const input = deliveredMessage(m);
    bytes += messageBytes(input);
    if (run.length > 0 && bytes > SEND_BATCH_BYTES_MAX) break;
    run.push(input);
  }
  const to = from + run.length;
  // A message without a real queue (not put there by a master), or whose queue is gone: skipped.
  const realQueues = topic === undefined ? undefined : sm.topicQueueCount(topic);
  const valid = topic !== undefined && Number.isInteger(queueId) && queueId >= 0;
  const fits = valid && (realQueues === undefined ? queueId < autoCreateQueues : queueId < realQueues);
  if (!fits) return { proposal: { kind: 'scheduleSkip', level, from, to } };
  return {
    proposal: { kind: 'sendBatch', topic: topic!, queueId, storeTimestamp: nowMs, autoCreateQueues: realQueues === undefined ? autoCreateQueues : 0, schedule: { level, from, to }, messages: run },
  };
}

/** A delayed message as its real queue stores it: the schedule's properties gone, and its msgId
 *  kept (ORIGIN_MESSAGE_ID: the one the producer was answered, or a retry's first). */
function deliveredMessage(m: StoredMessage): MessageInput {
  const properties: Record<string, string> = {};
  for (const [k, v] of Object.entries(m.properties)) {
    if (k === PROPERTY_DELAY_TIME_LEVEL || k === PROPERTY_REAL_TOPIC || k === PROPERTY_REAL_QUEUE_ID) continue;
    properties[k] = v;
  }
  properties[PROPERTY_ORIGIN_MESSAGE_ID] ??= m.msgId;
  return { body: m.body, ...(m.keys !== '' ? { keys: m.keys } : {}), ...(m.tags !== '' ? { tags: m.tags } : {}), properties };
}

/** A message's bytes as validateMessages counts them. */
function messageBytes(m: MessageInput): number {
  let n = m.body.length + Buffer.byteLength(m.keys ?? '') + Buffer.byteLength(m.tags ?? '');
  for (const [k, v] of Object.entries(m.properties ?? {})) n += Buffer.byteLength(k) + Buffer.byteLength(v);
  return n;
}
