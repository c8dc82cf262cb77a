// The master's two ways into SCHEDULE_TOPIC, decided when it builds the proposal (apply sees an
// ordinary send batch): a producer's send with property DELAY, and a consumer's sendBack of a
// message it failed (to the group's retry topic after a delay, or to its DLQ). Delivery out of
// SCHEDULE_TOPIC is schedule-decision.ts's.
import {
  MAX_RECONSUME_TIMES_DEFAULT,
  PROPERTY_DELAY_TIME_LEVEL,
  PROPERTY_ORIGIN_MESSAGE_ID,
  PROPERTY_REAL_QUEUE_ID,
  PROPERTY_REAL_TOPIC,
  PROPERTY_RECONSUME_TIME,
  PROPERTY_RETRY_TOPIC,
  RETRY_DELAY_LEVEL_BASE,
  SCHEDULE_TOPIC,
  dlqTopicOf,
  retryTopicOf,
  type MessageInput,
} from '../protocol/index.ts';
import type { SendBatchCommand } from './commands.ts';
import { encodeCommand, validateGroupName, validateMessages, validateOffset, validateTopicName } from './commands.ts';
import { requestedDelayLevel } from './delay-levels.ts';
import { BrokerError } from './errors.ts';
import type { ApplyResult, BrokerStateMachine } from './state-machine.ts';

/** Highest maxReconsumeTimes a sendBack may name. */
export const MAX_RECONSUME_TIMES_LIMIT = 1000;

/** A prepared send as the master proposes it: to SCHEDULE_TOPIC queue level - 1 when its messages
 *  ask for a delay (all of a batch alike), else unchanged. A delayed batch loses its producer id:
 *  the idempotence windows are per real queue, and batches of many queues meet in one schedule
 *  queue (a retried delayed send may be stored twice: at-least-once). BAD_REQUEST for a DELAY
 *  that is not a number or differs within the batch. */
export function routeDelayed(cmd: SendBatchCommand, levelCount: number): SendBatchCommand {
  const level = requestedDelayLevel(cmd.messages[0]!.properties, levelCount);
  for (const m of cmd.messages) {
    if (requestedDelayLevel(m.properties, levelCount) !== level) throw new BrokerError('BAD_REQUEST', `the messages of one send must all have the same ${PROPERTY_DELAY_TIME_LEVEL}`);
  }
  if (level === 0) return cmd;
  const messages = cmd.messages.map((m) => withProperties(m, { [PROPERTY_REAL_TOPIC]: cmd.topic, [PROPERTY_REAL_QUEUE_ID]: String(cmd.queueId) }));
  validateMessages(messages);
  return { kind: 'sendBatch', topic: SCHEDULE_TOPIC, queueId: level - 1, storeTimestamp: cmd.storeTimestamp, autoCreateQueues: levelCount, messages };
}

export interface SendBackRequest {
  readonly group: string;
  readonly topic: string;
  readonly queueId: number;
  readonly queueOffset: number;
  readonly delayLevel: number;
  readonly maxReconsumeTimes: number;
}

/** Where a sendBack stores the message: the send to propose, and the topic (with its queue count)
 *  that must exist first. */
export interface SendBackPlan {
  readonly cmd: SendBatchCommand;
  readonly ensureTopic: { readonly topic: string; readonly queues: number };
}

/**
 * RocketMQ's consumerSendMsgBack: the message at (topic, queueId, queueOffset) again, with
 * RECONSUME_TIME + 1, to the group's DLQ (queue 0) once that is above maxReconsumeTimes or
 * delayLevel is -1, else to SCHEDULE_TOPIC to come back through the retry topic (queue 0) after
 * delayLevel (0: RETRY_DELAY_LEVEL_BASE + its reconsume times, capped at the last level).
 * Errors: BAD_REQUEST (fields, an offset with no message), TOPIC_NOT_FOUND.
 */
export function planSendBack(sm: BrokerStateMachine, req: SendBackRequest, levelCount: number, nowMs: number): SendBackPlan {
  validateGroupName(req.group);
  validateTopicName(req.topic);
  validateOffset(req.queueOffset);
  if (!Number.isInteger(req.delayLevel) || req.delayLevel < -1 || req.delayLevel > levelCount) throw new BrokerError('BAD_REQUEST', `delayLevel must be an integer in -1..${levelCount}, got ${String(req.delayLevel)}`);
  const maxTimes = req.maxReconsumeTimes ?? MAX_RECONSUME_TIMES_DEFAULT;
  if (!Number.isInteger(maxTimes) || maxTimes < 0 || maxTimes > MAX_RECONSUME_TIMES_LIMIT) throw new BrokerError('BAD_REQUEST', `maxReconsumeTimes must be an integer in 0..${MAX_RECONSUME_TIMES_LIMIT}, got ${String(maxTimes)}`);
  const { minOffset, maxOffset } = sm.queueBounds(req.topic, req.queueId);
  if (req.queueOffset < minOffset || req.queueOffset >= maxOffset) throw new BrokerError('BAD_REQUEST', `${req.topic}/${req.queueId} has offsets ${minOffset}..${maxOffset - 1}, not ${req.queueOffset}`);
  const m = sm.pull(req.topic, req.queueId, req.queueOffset, 1, 1).messages[0];
  if (m === undefined || m.queueOffset !== req.queueOffset) throw new BrokerError('BAD_REQUEST', `the message at ${req.topic}/${req.queueId} offset ${req.queueOffset} cannot be read on this replica`);
  const reconsumeTimes = m.reconsumeTimes + 1;
  const props = { ...m.properties };
  delete props[PROPERTY_DELAY_TIME_LEVEL];
  delete props[PROPERTY_REAL_TOPIC];
  delete props[PROPERTY_REAL_QUEUE_ID];
  props[PROPERTY_RETRY_TOPIC] ??= req.topic;
  props[PROPERTY_ORIGIN_MESSAGE_ID] ??= m.msgId;
  props[PROPERTY_RECONSUME_TIME] = String(reconsumeTimes);
  const base: MessageInput = { body: m.body, ...(m.keys !== '' ? { keys: m.keys } : {}), ...(m.tags !== '' ? { tags: m.tags } : {}) };
  if (reconsumeTimes > maxTimes || req.delayLevel === -1) {
    const topic = dlqTopicOf(req.group);
    validateTopicName(topic);
    const messages = [{ ...base, properties: props }];
    validateMessages(messages);
    return { cmd: { kind: 'sendBatch', topic, queueId: 0, storeTimestamp: nowMs, autoCreateQueues: 1, messages }, ensureTopic: { topic, queues: 1 } };
  }
  const level = Math.min(req.delayLevel > 0 ? req.delayLevel : RETRY_DELAY_LEVEL_BASE + m.reconsumeTimes, levelCount);
  const retryTopic = retryTopicOf(req.group);
  validateTopicName(retryTopic);
  props[PROPERTY_REAL_TOPIC] = retryTopic;
  props[PROPERTY_REAL_QUEUE_ID] = '0';
  const messages = [{ ...base, properties: props }];
  validateMessages(messages);
  // The retry topic must exist before the delivery (created with 1 queue); SCHEDULE_TOPIC is
  // created by the send (autoCreateQueues) or grown by the caller.
  return { cmd: { kind: 'sendBatch', topic: SCHEDULE_TOPIC, queueId: level - 1, storeTimestamp: nowMs, autoCreateQueues: levelCount, messages }, ensureTopic: { topic: retryTopic, queues: 1 } };
}

function withProperties(m: MessageInput, extra: Record<string, string>): MessageInput {
  return { ...m, properties: { ...(m.properties ?? {}), ...extra } };
}

/** What proposing a delayed send or a sendBack needs (the server gives it). */
export interface DelayedSendContext {
  readonly stateMachine: BrokerStateMachine;
  readonly propose: (data: Uint8Array) => Promise<unknown>;
  /** messageDelayLevel, in ms per level. */
  readonly delayLevelsMs: readonly number[];
  readonly now: () => number;
}

/** Proposes `cmd` once the topics it needs exist with at least their queues (a createTopic first
 *  for each one missing or smaller), and SCHEDULE_TOPIC with one queue per level when `cmd` goes
 *  there. Resolves to the send's apply result; an error result of a createTopic is thrown. */
export async function proposeWithTopics(ctx: DelayedSendContext, cmd: SendBatchCommand, topics: readonly { topic: string; queues: number }[] = []): Promise<ApplyResult> {
  const needed = cmd.topic === SCHEDULE_TOPIC ? [...topics, { topic: SCHEDULE_TOPIC, queues: ctx.delayLevelsMs.length }] : topics;
  for (const { topic, queues } of needed) {
    if ((ctx.stateMachine.topicQueueCount(topic) ?? 0) >= queues) continue;
    const r = (await ctx.propose(encodeCommand(ctx.stateMachine.prepareCreateTopic(topic, queues)))) as ApplyResult;
    if (r.type === 'error') throw new BrokerError(r.code, r.message);
  }
  return (await ctx.propose(encodeCommand(cmd))) as ApplyResult;
}

/** A sendBack on the master: resolves once the message is stored in SCHEDULE_TOPIC or the DLQ. */
export async function sendBack(ctx: DelayedSendContext, req: SendBackRequest): Promise<void> {
  const plan = planSendBack(ctx.stateMachine, req, ctx.delayLevelsMs.length, ctx.now());
  const r = await proposeWithTopics(ctx, plan.cmd, [plan.ensureTopic]);
  if (r.type === 'error') throw new BrokerError(r.code, r.message);
}
