// Orderly push consumers: each queue locked at the master by one member, its messages handled
// one at a time in queue order, a suspended message tried again in place before the ones after
// it, and a leaving member's queues taken over after it committed and unlocked them: every
// message consumed once, in order, never two handlers on one queue at once.
import t from 'tap';
import { ClusterClient, PushConsumer } from '../../src/client/index.ts';
import { startMaster, until } from './push-harness.ts';

/** The subscribed topics' queues (the group's retry topic, created at the first heartbeat, left out). */
const notRetry = (q: { topic: string }): boolean => !q.topic.startsWith('%RETRY%');

const fast = { persistConsumerOffsetInterval: 100, heartbeatBrokerInterval: 200, rebalanceInterval: 60_000, pullLongPollMs: 500, consumeFrom: 'first' as const, suspendCurrentQueueTimeMillis: 20 };

t.test('two orderly members: in order per queue, one handler per queue, a member leaving hands over locked queues', async (t) => {
  const m = await startMaster(t);
  m.createTopic('T', 4);
  const done = new Map<number, number[]>();
  const busy = new Set<number>();
  const problems: string[] = [];
  let failedOnce = false;
  const members: PushConsumer[] = [];
  const start = async (id: string) => {
    const c = new PushConsumer({ servers: [m.addr], group: 'O', clientId: id, ...fast });
    c.subscribe('T');
    c.registerMessageListenerOrderly(async (msgs, ctx) => {
      const q = ctx.messageQueue.queueId;
      if (busy.has(q)) problems.push(`queue ${q}: two handlers at once`);
      busy.add(q);
      await new Promise((r) => setTimeout(r, 1));
      busy.delete(q);
      const msg = msgs[0]!;
      if (q === 2 && msg.queueOffset === 5 && !failedOnce) {
        failedOnce = true;
        return 'SUSPEND_CURRENT_QUEUE_A_MOMENT' as const;
      }
      done.set(q, [...(done.get(q) ?? []), msg.queueOffset]);
      return 'SUCCESS' as const;
    });
    m.track(c);
    await c.start();
    members.push(c);
    return c;
  };
  const a = await start('m1');
  const b = await start('m2');
  await until(t, 'both members hold two queues', () => a.allocatedQueues().filter(notRetry).length === 2 && b.allocatedQueues().filter(notRetry).length === 2);
  for (let q = 0; q < 4; q++) m.send('T', q, Array.from({ length: 20 }, (_, i) => `${q}-${i}`));
  await until(t, 'the first 80 consumed', () => [...done.values()].reduce((n, l) => n + l.length, 0) === 80);
  t.ok(failedOnce, 'one message was suspended');
  await b.shutdown();
  await until(t, 'the remaining member holds all four', () => a.allocatedQueues().filter(notRetry).length === 4);
  for (let q = 0; q < 4; q++) m.send('T', q, Array.from({ length: 10 }, (_, i) => `${q}-${20 + i}`));
  await until(t, 'all 120 consumed', () => [...done.values()].reduce((n, l) => n + l.length, 0) === 120);
  for (let q = 0; q < 4; q++) t.strictSame(done.get(q), Array.from({ length: 30 }, (_, i) => i), `queue ${q}: every message once, in order`);
  t.strictSame(problems, []);
});

t.test('a queue whose lock another client holds is taken once that lock is released', async (t) => {
  const m = await startMaster(t);
  m.createTopic('L', 2);
  const other = new ClusterClient({ servers: [m.addr] });
  t.teardown(() => other.close());
  const call = { tries: 1, deadline: Date.now() + 3000 };
  const locked = await other.callMaster<'lockQueues'>({ type: 'lockQueues', group: 'O', clientId: 'squatter', queues: [{ topic: 'L', queueId: 0 }] }, call);
  t.strictSame(locked.queues, [{ topic: 'L', queueId: 0 }]);
  const c = new PushConsumer({ servers: [m.addr], group: 'O', clientId: 'late', ...fast });
  c.subscribe('L');
  const got: number[] = [];
  c.registerMessageListenerOrderly((msgs) => {
    got.push(msgs[0]!.queueId);
    return 'SUCCESS';
  });
  await c.start();
  m.track(c);
  m.send('L', 0, ['a']);
  m.send('L', 1, ['b']);
  await until(t, 'queue 1 consumed', () => got.includes(1));
  t.strictSame(c.allocatedQueues().filter(notRetry).map((q) => q.queueId), [1], 'queue 0 is locked by another client: not consumed');
  t.notOk(got.includes(0));
  await other.callMaster<'unlockQueues'>({ type: 'unlockQueues', group: 'O', clientId: 'squatter', queues: [{ topic: 'L', queueId: 0 }] }, { tries: 1, deadline: Date.now() + 3000 });
  await until(t, 'queue 0 taken and consumed after the release', () => got.includes(0));
  t.strictSame(c.allocatedQueues().filter(notRetry).map((q) => q.queueId), [0, 1]);
});
