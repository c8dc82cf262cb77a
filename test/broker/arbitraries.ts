// fast-check generators of broker commands shared by the broker tests.
import fc from 'fast-check';
import type { BrokerCommand, CommitOffsetEntry } from '../../src/broker/index.ts';
import type { MessageInput, QueueRef } from '../../src/protocol/index.ts';
import { confStep, type Step } from './harness.ts';

export const TOPICS = ['TopicA', 'TopicB', '%RETRY%g1', 'T-c'];
export const GROUPS = ['g1', 'g2'];
/** Idempotent producers' ids. */
export const PRODUCERS = ['p1', 'host@1:p2'];

export function arbMessage(): fc.Arbitrary<MessageInput> {
  return fc.record(
    {
      body: fc.uint8Array({ minLength: 1, maxLength: 40 }),
      keys: fc.string({ maxLength: 10 }),
      tags: fc.stringMatching(/^[a-z]{0,6}$/),
      properties: fc.dictionary(fc.stringMatching(/^[A-Za-z_]{1,8}$/), fc.string({ maxLength: 8 }), { maxKeys: 3 }),
    },
    { requiredKeys: ['body'] },
  );
}

/** Delay levels whose schedule offsets the arbitraries move (deliveries and skips). */
export const SCHEDULE_LEVELS = 3;

/** A move of a delay level's schedule offset; small offsets, so some apply and some are refused. */
function arbScheduleAdvance(count: number): fc.Arbitrary<{ level: number; from: number; to: number }> {
  return fc.record({ level: fc.integer({ min: 1, max: SCHEDULE_LEVELS }), from: fc.nat({ max: 6 }) }).map(({ level, from }) => ({ level, from, to: from + count }));
}

/** Consumer group members' client ids (queue locks). */
export const CLIENT_IDS = ['10.0.0.1@1', '10.0.0.2@2'];

/** Mostly queues 0 and 1, which a topic has as soon as it exists (sends auto-create 2 or 4). */
export function arbQueueRef(): fc.Arbitrary<QueueRef> {
  return fc.record({ topic: fc.constantFrom(...TOPICS), queueId: fc.oneof({ weight: 4, arbitrary: fc.nat({ max: 1 }) }, { weight: 1, arbitrary: fc.nat({ max: 5 }) }) });
}

/** lockQueues mostly, now and then unlockQueues or unlockAllQueues; atMs from a small range, so
 *  some locks lapse and some do not. */
export function arbQueueLockCommand(): fc.Arbitrary<BrokerCommand> {
  const group = fc.constantFrom(...GROUPS);
  const clientId = fc.constantFrom(...CLIENT_IDS);
  const queues = fc.array(arbQueueRef(), { minLength: 1, maxLength: 3 });
  return fc.oneof(
    { weight: 5, arbitrary: fc.record({ kind: fc.constant('lockQueues' as const), group, clientId, atMs: fc.nat({ max: 200_000 }), queues }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('unlockQueues' as const), group, clientId, queues }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('unlockAllQueues' as const), group, clientId }) },
  );
}

export function arbOffsetEntry(): fc.Arbitrary<CommitOffsetEntry> {
  return fc.record({
    group: fc.constantFrom(...GROUPS),
    topic: fc.constantFrom(...TOPICS),
    queueId: fc.integer({ min: 0, max: 5 }),
    // Mostly within the few messages a queue gets here (applied), some far past them (rejected).
    offset: fc.oneof({ weight: 3, arbitrary: fc.nat({ max: 12 }) }, { weight: 1, arbitrary: fc.nat({ max: 1_000_000 }) }),
  });
}

/** Valid commands over a small set of topics, so sequences hit the same queues often. Some
 *  target queues or topics that will not exist: apply must reject those deterministically. */
export function arbCommand(): fc.Arbitrary<BrokerCommand> {
  return fc.oneof(
    {
      weight: 6,
      arbitrary: fc
        .tuple(
          fc.record({
            kind: fc.constant('sendBatch' as const),
            topic: fc.constantFrom(...TOPICS),
            queueId: fc.integer({ min: 0, max: 5 }),
            storeTimestamp: fc.nat({ max: 2 ** 42 }),
            autoCreateQueues: fc.constantFrom(0, 2, 4),
            messages: fc.array(arbMessage(), { minLength: 1, maxLength: 6 }),
          }),
          // Now and then an idempotent producer's batch; few seqs, so some repeat (retries, or a
          // seq reused with another count).
          fc.option(fc.record({ producerId: fc.constantFrom(...PRODUCERS), seq: fc.nat({ max: 12 }) }), { freq: 3 }),
          // Now and then a delivery of delayed messages instead (never with a producer).
          fc.option(arbScheduleAdvance(0), { freq: 6 }),
        )
        .map(([cmd, producer, schedule]): BrokerCommand =>
          producer !== null ? { ...cmd, ...producer } : schedule !== null ? { ...cmd, schedule: { ...schedule, to: schedule.from + cmd.messages.length } } : cmd,
        ),
    },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('createTopic' as const), topic: fc.constantFrom(...TOPICS), queues: fc.integer({ min: 1, max: 8 }) }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('commitOffsets' as const), entries: fc.array(arbOffsetEntry(), { minLength: 1, maxLength: 4 }) }) },
    // Queue locks share the no-op's weight, so the other commands keep their shares.
    { weight: 1, arbitrary: fc.oneof(fc.constant({ kind: 'noop' as const }), arbQueueLockCommand(), fc.integer({ min: 1, max: 3 }).chain((n) => arbScheduleAdvance(n).map((a) => ({ kind: 'scheduleSkip' as const, ...a })))) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('deleteTopic' as const), topic: fc.constantFrom(...TOPICS) }) },
    // cutAt names an earlier retain entry now and then (a mark), or nothing (refused, or 0).
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('retain' as const), cutAt: fc.nat({ max: 40 }), atMs: fc.nat({ max: 2 ** 42 }) }) },
  );
}

/** A log step: a command, or now and then a raft no-op (a new leader's term). */
/** A configuration entry: some of n0..n4 as voters, others as learners. */
export function arbConfStep(): fc.Arbitrary<Step> {
  return fc
    .tuple(fc.subarray(['n0', 'n1', 'n2', 'n3', 'n4'], { minLength: 1 }), fc.subarray(['l0', 'l1']), fc.constantFrom('addLearner' as const, 'addVoter' as const, 'promote' as const, 'remove' as const))
    .map(([voters, learners, op]) => confStep(op, voters[0]!, voters, learners));
}

export function arbStep(): fc.Arbitrary<Step> {
  return fc.oneof({ weight: 9, arbitrary: arbCommand() }, { weight: 1, arbitrary: fc.constant('raft-noop' as const) }, { weight: 1, arbitrary: arbConfStep() });
}

export const arbSteps = fc.array(arbStep(), { minLength: 1, maxLength: 60 });
