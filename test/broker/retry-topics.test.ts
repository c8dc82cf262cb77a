// A clustering group's retry topic is proposed on its members' heartbeats: once while the
// creation is in flight, not again once it exists, at most RETRY_TOPIC_CREATIONS_IN_FLIGHT_MAX
// groups at a time, and tried again at a later heartbeat when the proposal failed.
import t from 'tap';
import { decodeCommand, RetryTopicCreator, RETRY_TOPIC_CREATIONS_IN_FLIGHT_MAX } from '../../src/broker/index.ts';
import { Harness } from './harness.ts';

t.test('the retry topic is proposed once per group until it exists; a failed proposal is retried', async (t) => {
  const h = new Harness();
  const proposals: { data: Uint8Array; settle: (ok: boolean) => void }[] = [];
  const creator = new RetryTopicCreator(h.sm, (data) => new Promise((resolve, reject) => proposals.push({ data, settle: (ok) => (ok ? resolve(undefined) : reject(new Error('no quorum'))) })));
  creator.ensure('billing');
  creator.ensure('billing');
  t.equal(proposals.length, 1, 'one proposal while it is in flight');
  t.same(decodeCommand(proposals[0]!.data), { kind: 'createTopic', topic: '%RETRY%billing', queues: 1 });
  proposals[0]!.settle(false);
  await new Promise((r) => setImmediate(r));
  creator.ensure('billing');
  t.equal(proposals.length, 2, 'proposed again after a failure');
  h.run(decodeCommand(proposals[1]!.data));
  proposals[1]!.settle(true);
  await new Promise((r) => setImmediate(r));
  creator.ensure('billing');
  t.equal(proposals.length, 2, 'not proposed once the topic exists');
  t.equal(h.sm.topicQueueCount('%RETRY%billing'), 1);

  for (let i = 0; i < RETRY_TOPIC_CREATIONS_IN_FLIGHT_MAX + 5; i++) creator.ensure(`g${i}`);
  t.equal(proposals.length, 2 + RETRY_TOPIC_CREATIONS_IN_FLIGHT_MAX, 'at most RETRY_TOPIC_CREATIONS_IN_FLIGHT_MAX in flight');
});
