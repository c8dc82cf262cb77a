// A send that fails tells its caller whether it may have been stored: the least certain outcome
// of all its tries wins (unknown beats not-stored), in a field a program can read.
import t from 'tap';
import { Producer, RaftmqError } from '../../src/client/index.ts';
import { FakeBroker } from './fake-broker.ts';

async function master(t: { teardown(fn: () => unknown): void }): Promise<FakeBroker> {
  const b = await FakeBroker.start('n0');
  b.createTopic('t', 1);
  t.teardown(() => b.close());
  return b;
}

t.test('a connection lost after the request left, then NOT_MASTER: the error says the outcome is unknown', async (t) => {
  const b = await master(t);
  let sends = 0;
  b.hook = (frame, conn) => {
    if (frame.type !== 'send') return false;
    sends++;
    if (sends === 1) conn.destroy('dropped after receiving the send'); // it may have been stored
    else conn.send({ type: 'error', id: frame.id, code: 'NOT_MASTER', message: 'not master' }); // no hint
    return true;
  };
  const producer = new Producer({ servers: [b.addr], sendTimeoutMs: 3000, retryTimesWhenSendFailed: 1, backoffMsMin: 5, backoffMsMax: 10 });
  t.teardown(() => producer.close());
  const err = (await producer.send('t', { body: Buffer.from('x') }, { queueId: 0 }).then(() => null, (e: unknown) => e)) as RaftmqError;
  t.ok(err instanceof RaftmqError, String(err));
  t.equal(sends, 2, 'two tries');
  t.equal(err.outcome, 'unknown', 'unknown beats the later "not stored"');
  t.equal(err.code, 'CONNECTION_LOST', 'and the unknown try is the error reported');
  t.match(err.message, /later try: not master/, 'naming the later try');
});

t.test('every try refused before it could be stored: the outcome is not-stored', async (t) => {
  const b = await master(t);
  b.hook = (frame, conn) => {
    if (frame.type !== 'send') return false;
    conn.send({ type: 'error', id: frame.id, code: 'NO_QUORUM', message: 'no master' });
    return true;
  };
  const producer = new Producer({ servers: [b.addr], sendTimeoutMs: 3000, retryTimesWhenSendFailed: 1, backoffMsMin: 5, backoffMsMax: 10 });
  t.teardown(() => producer.close());
  const err = (await producer.send('t', { body: Buffer.from('x') }, { queueId: 0 }).then(() => null, (e: unknown) => e)) as RaftmqError;
  t.equal(err.code, 'NO_QUORUM');
  t.equal(err.outcome, 'not-stored');
});
