// Writes over the wire on a master whose proposals commit at once (the Raft core is faked, the
// server and the state machine are real): an idempotent producer's retry after a lost answer is
// answered with the first result and stored once, its fields are checked, deleteTopic, and the
// queues' last update time in brokerInfo.
import t, { type Test } from 'tap';
import { BrokerMetrics, BrokerServer, ProposalError } from '../../src/broker/index.ts';
import { Connection } from '../../src/net/index.ts';
import { messagesToWire, type MessageInput } from '../../src/protocol/index.ts';
import { Harness, applyingMaster, testServerOptions } from './harness.ts';

interface Master {
  /** Proposals to apply but answer with a lost outcome (the client cannot know it was stored). */
  loseAnswers: number;
  proposals: number;
}

/** The shared applying master, counting proposals and losing the answers of the next
 *  `loseAnswers` ones (applied, but the caller hears TIMEOUT). */
function fakeMaster(h: Harness, master: Master) {
  return applyingMaster(h, (result) => {
    master.proposals++;
    if (master.loseAnswers > 0) {
      master.loseAnswers--;
      throw new ProposalError('TIMEOUT', 'the outcome of this proposal is unknown (test)');
    }
    return result;
  });
}

async function serve(t: Test) {
  const h = new Harness();
  const master: Master = { loseAnswers: 0, proposals: 0 };
  const metrics = new BrokerMetrics();
  const server = new BrokerServer(testServerOptions(h.sm, fakeMaster(h, master), { metrics }));
  await server.start();
  const conn = new Connection({ host: '127.0.0.1', port: server.port, reconnect: 'lazy' });
  t.teardown(async () => {
    await conn.close();
    await server.close();
  });
  const ask = (frame: object, blobs?: Uint8Array[]) =>
    conn.request<{ type: string; id: number } & Record<string, unknown>>(frame as never, blobs === undefined ? {} : { blobs }).then(
      (r) => r,
      (e: { code?: string; message: string }) => ({ type: 'error', code: e.code, message: e.message }),
    );
  const send = (topic: string, queueId: number, messages: MessageInput[], extra: object = {}) => {
    const { wire, blobs } = messagesToWire(messages);
    return ask({ type: 'send', topic, queueId, messages: wire, ...extra }, blobs);
  };
  const counter = async (name: string): Promise<number> => (await metrics.registry.getSingleMetric(name)!.get()).values.reduce((n, v) => n + v.value, 0);
  return { h, master, ask, send, counter };
}

const messages = (...bodies: string[]): MessageInput[] => bodies.map((b) => ({ body: Buffer.from(b) }));

t.test('a retried send whose first answer was lost is answered with the first result and stored once', async (t) => {
  const { h, master, send, counter } = await serve(t);
  master.loseAnswers = 1;
  const first = await send('T', 0, messages('a', 'b'), { producerId: 'host@1:p', seq: 10 });
  t.match(first, { type: 'error', code: 'TIMEOUT' }, 'the outcome is unknown to the producer');
  t.equal(h.sm.queueBounds('T', 0).maxOffset, 2, 'but the batch was stored');
  const retry = await send('T', 0, messages('a', 'b'), { producerId: 'host@1:p', seq: 10 });
  t.match(retry, { type: 'sendResult', batch: { queueId: 0, firstOffset: 0, logIndex: 1, count: 2 } }, 'the retry gets the first result');
  t.equal(h.sm.queueBounds('T', 0).maxOffset, 2, 'and stores nothing');
  t.equal(master.proposals, 2, 'the retry went through the log (apply decides, on every replica alike)');
  t.equal(await counter('raftmq_broker_duplicate_sends_total'), 1);
  t.match(await send('T', 0, messages('c'), { producerId: 'host@1:p', seq: 12 }), { type: 'sendResult', batch: { firstOffset: 2 } });
  t.match(await send('T', 0, messages('c', 'd'), { producerId: 'host@1:p', seq: 12 }), { type: 'error', code: 'BAD_REQUEST', message: /sequence reused/ });
  t.match(await send('T', 0, messages('e')), { type: 'sendResult', batch: { firstOffset: 3 } }, 'a send without a producer is stored as before');
  t.equal(await counter('raftmq_broker_duplicate_sends_total'), 1);
  t.equal(await counter('raftmq_broker_messages_in_total'), 2, 'messages in counts the sends answered as stored, not the duplicate');
});

t.test('an idempotent producer\'s fields are checked before anything is proposed', async (t) => {
  const { master, send } = await serve(t);
  const bad: [object, RegExp][] = [
    [{ producerId: 'p' }, /both or neither/],
    [{ seq: 1 }, /both or neither/],
    [{ producerId: 'has space', seq: 1 }, /producerId/],
    [{ producerId: 'x'.repeat(65), seq: 1 }, /producerId/],
    [{ producerId: 5, seq: 1 }, /producerId/],
    [{ producerId: 'p', seq: -1 }, /seq/],
    [{ producerId: 'p', seq: 0.5 }, /seq/],
    [{ producerId: 'p', seq: '1' }, /seq/],
    [{ producerId: 'p', seq: Number.MAX_SAFE_INTEGER - 1 }, /safe integer/],
  ];
  for (const [fields, message] of bad) t.match(await send('T', 0, messages('a', 'b'), fields), { type: 'error', code: 'BAD_REQUEST', message }, JSON.stringify(fields));
  t.equal(master.proposals, 0);
  t.match(await send('T', 0, messages('a'), { producerId: null, seq: null }), { type: 'sendResult' }, 'nil fields count as absent');
});

t.test('deleteTopic over the wire, and the queues\' last update time in brokerInfo', async (t) => {
  const { h, ask, send } = await serve(t);
  t.match(await send('T', 1, messages('a')), { type: 'sendResult' });
  const info = await ask({ type: 'brokerInfo' });
  const stored = h.sm.pull('T', 1, 0, 1, 1 << 20).messages[0]!.storeTimestamp;
  t.match(info, { type: 'brokerInfo', info: { topics: [{ topic: 'T', queues: [{ queueId: 0, lastUpdateTimestamp: 0 }, { queueId: 1, maxOffset: 1, lastUpdateTimestamp: stored }] }] } });
  t.ok(stored > 0);
  t.match(await ask({ type: 'deleteTopic', topic: 'T' }), { type: 'ok' });
  t.same(h.sm.listTopics(), []);
  t.match(await ask({ type: 'deleteTopic', topic: 'T' }), { type: 'error', code: 'TOPIC_NOT_FOUND' });
  t.match(await ask({ type: 'deleteTopic', topic: 'bad name' }), { type: 'error', code: 'BAD_REQUEST' });
  t.match(await send('T', 1, messages('b')), { type: 'sendResult', batch: { firstOffset: 0 } }, 'created again, from offset 0');
});
