// Retries and dead letters over the wire, on a master whose proposals commit at once (the Raft
// core is faked; the server, the state machine and the schedule service are real), with delay
// levels of 20 ms: a failed message goes to SCHEDULE_TOPIC, comes back through the group's retry
// topic with RECONSUME_TIME + 1 and its first msgId, and after maxReconsumeTimes lands in the
// DLQ. Delayed sends (property DELAY) are delivered to their queue. Bad requests are refused.
import t, { type Test } from 'tap';
import { BrokerServer, ScheduleService } from '../../src/broker/index.ts';
import { Producer } from '../../src/client/index.ts';
import { Connection } from '../../src/net/index.ts';
import { SCHEDULE_TOPIC, messagesToWire, sendResultOf, type MessageInput, type SendBatchResult, type StoredMessage } from '../../src/protocol/index.ts';
import { Harness, applyingMaster, testServerOptions } from './harness.ts';

const LEVELS_MS = [20, 20, 20];
/** Liveness guard only: deliveries are due after 20 ms. */
const WAIT_MS_MAX = 10_000;

async function serve(t: Test) {
  const h = new Harness();
  const replica = applyingMaster(h);
  const server = new BrokerServer(testServerOptions(h.sm, replica, { delayLevelsMs: LEVELS_MS }));
  await server.start();
  const schedule = new ScheduleService({ stateMachine: h.sm, delayLevelsMs: LEVELS_MS, autoCreateQueues: 4, leaderReady: () => true, propose: replica.propose, logger: silent, intervalMs: 5 });
  schedule.start();
  const conn = new Connection({ host: '127.0.0.1', port: server.port, reconnect: 'lazy' });
  t.teardown(async () => {
    schedule.stop();
    await conn.close();
    await server.close();
  });
  const ask = (frame: object, blobs?: Uint8Array[]) =>
    conn.request<{ type: string; id: number } & Record<string, unknown>>(frame as never, blobs === undefined ? {} : { blobs }).then(
      (r) => r,
      (e: { code?: string; message: string }) => ({ type: 'error', code: e.code, message: e.message }),
    );
  const send = (topic: string, queueId: number, messages: MessageInput[]) => {
    const { wire, blobs } = messagesToWire(messages);
    return ask({ type: 'send', topic, queueId, messages: wire }, blobs);
  };
  const sendBack = (topic: string, queueOffset: number, extra: object = {}) => ask({ type: 'sendBack', group: 'G', topic, queueId: 0, queueOffset, delayLevel: 0, maxReconsumeTimes: 2, ...extra });
  /** The message at `offset` of a queue once it is there. */
  const waitFor = async (topic: string, queueId: number, offset: number): Promise<StoredMessage> => {
    const deadline = Date.now() + WAIT_MS_MAX;
    for (;;) {
      if ((h.sm.topicQueueCount(topic) ?? 0) > queueId) {
        const m = h.sm.pull(topic, queueId, offset, 1, 1 << 20).messages[0];
        if (m !== undefined) return m;
      }
      if (Date.now() > deadline) throw new Error(`nothing at ${topic}/${queueId} offset ${offset}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  return { h, ask, send, sendBack, waitFor, port: server.port };
}

const silent = { debug() {}, info() {}, warn() {}, error() {}, flush() {}, close: async () => {} };

t.test('a failed message comes back through the retry topic with its first msgId, then goes to the DLQ after maxReconsumeTimes', async (t) => {
  const { h, ask, send, sendBack, waitFor } = await serve(t);
  t.match(await send('T', 0, [{ body: Buffer.from('a'), keys: 'k1', tags: 'TagA', properties: { p: 'v' } }]), { type: 'sendResult' });
  const first = h.sm.pull('T', 0, 0, 1, 1024).messages[0]!;

  t.match(await sendBack('T', 0), { type: 'ok' }, 'stored (first retry: level 3 + 0, the last of three)');
  t.equal(h.sm.queueBounds(SCHEDULE_TOPIC, 2).maxOffset, 1, 'waits in SCHEDULE_TOPIC queue 2');
  t.equal(h.sm.topicQueueCount('%RETRY%G'), 1, 'the retry topic is created with one queue');
  const retry1 = await waitFor('%RETRY%G', 0, 0);
  t.match(retry1, { keys: 'k1', tags: 'TagA', reconsumeTimes: 1, msgId: first.msgId, properties: { p: 'v', RETRY_TOPIC: 'T', ORIGIN_MESSAGE_ID: first.msgId, RECONSUME_TIME: '1' } });
  t.equal(Buffer.from(retry1.body).toString(), 'a');
  t.not(retry1.offsetMsgId, retry1.msgId, 'its stored copy has an id of its own');
  t.equal(retry1.properties.REAL_TOPIC, undefined, 'the schedule properties are gone');
  t.equal(retry1.properties.DELAY, undefined);
  const viewed = await ask({ type: 'viewMessage', msgId: retry1.offsetMsgId });
  t.match(viewed, { type: 'messages', messages: [{ topic: '%RETRY%G', queueOffset: 0, msgId: first.msgId }] }, 'viewMessage finds the copy by its offsetMsgId');

  t.match(await sendBack('%RETRY%G', 0), { type: 'ok' });
  const retry2 = await waitFor('%RETRY%G', 0, 1);
  t.match(retry2, { reconsumeTimes: 2, msgId: first.msgId, properties: { RETRY_TOPIC: 'T', RECONSUME_TIME: '2' } }, 'the original topic is kept');

  t.match(await sendBack('%RETRY%G', 1), { type: 'ok' });
  t.equal(h.sm.topicQueueCount('%DLQ%G'), 1, 'the third failure goes to the DLQ (3 > maxReconsumeTimes 2), created with one queue');
  const dead = h.sm.pull('%DLQ%G', 0, 0, 1, 1024).messages[0]!;
  t.match(dead, { keys: 'k1', tags: 'TagA', reconsumeTimes: 3, msgId: first.msgId, properties: { RETRY_TOPIC: 'T', ORIGIN_MESSAGE_ID: first.msgId, RECONSUME_TIME: '3' } });

  t.match(await sendBack('T', 0, { delayLevel: -1 }), { type: 'ok' }, 'delayLevel -1: straight to the DLQ');
  t.equal(h.sm.queueBounds('%DLQ%G', 0).maxOffset, 2);
});

t.test('a message sent with DELAY waits in SCHEDULE_TOPIC and is delivered to its queue without the schedule properties', async (t) => {
  const { h, send, waitFor } = await serve(t);
  const r = await send('T', 1, [{ body: Buffer.from('later'), properties: { DELAY: '9' } }]);
  t.match(r, { type: 'sendResult', batch: { queueId: 2, firstOffset: 0, count: 1 } }, 'the result names where it waits (DELAY above the levels: the last)');
  t.equal(h.sm.topicQueueCount('T'), undefined, 'not in its queue yet (an auto-created topic is created by the delivery)');
  const m = await waitFor('T', 1, 0);
  t.equal(Buffer.from(m.body).toString(), 'later');
  t.same(m.properties, { ORIGIN_MESSAGE_ID: h.sm.pull(SCHEDULE_TOPIC, 2, 0, 1, 1024).messages[0]!.msgId }, 'DELAY, REAL_TOPIC and REAL_QID are gone');
  t.equal(m.msgId, sendResultOf((r as unknown as { batch: SendBatchResult }).batch, 0).msgId, 'its msgId is the one the producer was answered');
  t.ok(m.storeTimestamp >= h.sm.pull(SCHEDULE_TOPIC, 2, 0, 1, 1024).messages[0]!.storeTimestamp + LEVELS_MS[2]!, 'not before its delay');
  t.match(await send('T', 1, [{ body: Buffer.from('x'), properties: { DELAY: 'soon' } }]), { type: 'error', code: 'BAD_REQUEST', message: /DELAY must be a delay level/ });
  t.match(await send('T', 1, [{ body: Buffer.from('x'), properties: { DELAY: '1' } }, { body: Buffer.from('y') }]), { type: 'error', code: 'BAD_REQUEST', message: /same DELAY/ });
  t.match(await send('T', 1, [{ body: Buffer.from('now'), properties: { DELAY: '0' } }]), { type: 'sendResult', batch: { queueId: 1 } }, 'DELAY 0: not delayed');
});

t.test('sendBack refuses bad requests with BAD_REQUEST or TOPIC_NOT_FOUND', async (t) => {
  const { send, sendBack } = await serve(t);
  await send('T', 0, [{ body: Buffer.from('a') }]);
  t.match(await sendBack('T', 5), { type: 'error', code: 'BAD_REQUEST', message: /offsets 0..0, not 5/ });
  t.match(await sendBack('nope', 0), { type: 'error', code: 'TOPIC_NOT_FOUND' });
  t.match(await sendBack('T', 0, { group: 'bad group' }), { type: 'error', code: 'BAD_REQUEST', message: /group/ });
  t.match(await sendBack('T', 0, { delayLevel: 4 }), { type: 'error', code: 'BAD_REQUEST', message: /delayLevel must be an integer in -1..3/ });
  t.match(await sendBack('T', 0, { maxReconsumeTimes: 1001 }), { type: 'error', code: 'BAD_REQUEST', message: /maxReconsumeTimes/ });
  t.match(await sendBack('T', 0, { queueId: 9 }), { type: 'error', code: 'BAD_REQUEST', message: /queueId/ });
  t.match(await sendBack('T', -1), { type: 'error', code: 'BAD_REQUEST', message: /offset/ });
});

t.test("the producer's delayTimeLevel sets DELAY, in a request of its own; a bad level is a TypeError", async (t) => {
  const { h, waitFor, port } = await serve(t);
  const producer = new Producer({ servers: [`127.0.0.1:${port}`] });
  t.teardown(() => producer.close());
  const [delayed, now] = await Promise.all([producer.send('T', { body: Buffer.from('d'), delayTimeLevel: 2 }, { queueId: 0 }), producer.send('T', { body: Buffer.from('n') }, { queueId: 0 })]);
  t.match(delayed, { queueId: 1, queueOffset: 0 }, 'stored in SCHEDULE_TOPIC queue 1');
  t.match(now, { queueId: 0 }, 'the other message of the same turn went to its queue at once');
  t.equal(h.sm.pull(SCHEDULE_TOPIC, 1, 0, 1, 1024).messages[0]!.properties.DELAY, '2');
  const m = await waitFor('T', 0, 1);
  t.equal(Buffer.from(m.body).toString(), 'd');
  await t.rejects(producer.send('T', { body: Buffer.from('x'), delayTimeLevel: 1.5 }), TypeError);
});
