import t from 'tap';
import type { Test } from 'tap';
import { FakeBroker } from './fake-broker.ts';
import { Producer, RaftmqError, keyHash } from '../../src/client/index.ts';
import { MESSAGE_BODY_BYTES_MAX } from '../../src/protocol/index.ts';

const body = (s: string) => Buffer.from(s);

async function brokers(n: number, t: Test): Promise<FakeBroker[]> {
  const list = await Promise.all(Array.from({ length: n }, (_, i) => FakeBroker.start(`n${i}`)));
  for (const b of list) {
    b.createTopic('orders', 4);
    t.teardown(() => b.close());
  }
  return list;
}

t.test('a send answered NOT_MASTER follows the hint to the master at once', async (t) => {
  const [stale, master] = await brokers(2, t);
  // `stale` still believes it is master (status says so) but refuses writes with a hint.
  stale!.hook = (frame, conn, b) => {
    if (frame.type !== 'send') return false;
    conn.send({ type: 'error', id: frame.id, code: 'NOT_MASTER', message: 'moved', masterAddr: master!.addr });
    void b;
    return true;
  };
  const producer = new Producer({ servers: [stale!.addr, master!.addr] });
  t.teardown(() => producer.close());
  const result = await producer.send('orders', { body: body('a') }, { queueId: 1 });
  t.match(result, { queueId: 1, queueOffset: 0 });
  t.equal(stale!.count('send'), 1);
  t.equal(master!.count('send'), 1);
  // Following the hint goes straight to the master: no pause and no new discovery (a failed try
  // would forget the master, back off and ask the servers' status again).
  t.equal(stale!.count('status') + master!.count('status'), 1, 'one discovery (the first), none after the hint');
  await producer.send('orders', { body: body('b') }, { queueId: 1 });
  t.equal(stale!.count('send'), 1, 'the master is remembered');
});

t.test('a slave that knows the master sends the producer there through discovery', async (t) => {
  const [slave, master] = await brokers(2, t);
  slave!.role = 'SLAVE';
  slave!.masterAddr = master!.addr;
  const producer = new Producer({ servers: [slave!.addr] });
  t.teardown(() => producer.close());
  await producer.send('orders', { body: body('a') });
  t.equal(slave!.count('send'), 0);
  t.equal(master!.count('send'), 1);
});

t.test('CONNECTION_LOST is retried up to 3 tries in total, then fails with a typed error', async (t) => {
  const [master] = await brokers(1, t);
  master!.hook = (frame, conn) => {
    if (frame.type !== 'send') return false;
    conn.destroy('drop');
    return true;
  };
  const producer = new Producer({ servers: [master!.addr], sendTimeoutMs: 3000 });
  t.teardown(() => producer.close());
  const err = await producer.send('orders', { body: body('x') }).catch((e: unknown) => e);
  t.ok(err instanceof RaftmqError);
  t.match(err, { code: 'CONNECTION_LOST', requestSent: true });
  t.equal(master!.count('send'), 3);
});

t.test('TIMEOUT is retried (each try gets its share of sendTimeoutMs), then fails', async (t) => {
  const [master] = await brokers(1, t);
  master!.hook = (frame) => frame.type === 'send'; // never answers
  const producer = new Producer({ servers: [master!.addr], sendTimeoutMs: 600 });
  t.teardown(() => producer.close());
  const started = Date.now();
  await t.rejects(producer.send('orders', { body: body('x') }), { code: 'TIMEOUT' });
  t.equal(master!.count('send'), 3);
  // 600 ms of deadline plus one try; the guard is wide (a busy machine), the try count above is exact.
  t.ok(Date.now() - started < 3000, 'never far past the overall deadline');
});

t.test('NO_QUORUM is retried with backoff and the send succeeds when the group recovers', async (t) => {
  const [master] = await brokers(1, t);
  let refusals = 2;
  master!.hook = (frame, conn) => {
    if (frame.type !== 'send' || refusals === 0) return false;
    refusals--;
    conn.send({ type: 'error', id: frame.id, code: 'NO_QUORUM', message: 'no quorum' });
    return true;
  };
  const producer = new Producer({ servers: [master!.addr] });
  t.teardown(() => producer.close());
  t.match(await producer.send('orders', { body: body('x') }, { queueId: 0 }), { queueOffset: 0 });
  t.equal(master!.count('send'), 3);
});

t.test('DISK_FULL is not retried: the producer gets the broker\'s message at once (it names the disk use), the message certainly not stored', async (t) => {
  const [master] = await brokers(1, t);
  master!.hook = (frame, conn) => {
    if (frame.type !== 'send') return false;
    conn.send({ type: 'error', id: frame.id, code: 'DISK_FULL', message: 'n0 refuses writes: the store\'s disk is 93.2% used (diskSpaceWarningLevelRatio=90); writes resume below that' });
    return true;
  };
  const producer = new Producer({ servers: [master!.addr], retryTimesWhenSendFailed: 5 });
  t.teardown(() => producer.close());
  await t.rejects(producer.send('orders', { body: body('x') }), { code: 'DISK_FULL', outcome: 'not-stored', message: /93\.2% used/ });
  t.equal(master!.count('send'), 1, 'one try');
});

t.test('MESSAGE_TOO_LARGE and BAD_REQUEST are not retried', async (t) => {
  const [master] = await brokers(1, t);
  let code = 'MESSAGE_TOO_LARGE';
  master!.hook = (frame, conn) => {
    if (frame.type !== 'send') return false;
    conn.send({ type: 'error', id: frame.id, code, message: 'no' });
    return true;
  };
  const producer = new Producer({ servers: [master!.addr] });
  t.teardown(() => producer.close());
  await t.rejects(producer.send('orders', { body: body('x') }), { code: 'MESSAGE_TOO_LARGE' });
  t.equal(master!.count('send'), 1);
  code = 'BAD_REQUEST';
  await t.rejects(producer.send('orders', { body: body('x') }), { code: 'BAD_REQUEST' });
  t.equal(master!.count('send'), 2);
  await t.rejects(producer.send('orders', { body: Buffer.alloc(MESSAGE_BODY_BYTES_MAX + 1) }), {
    code: 'MESSAGE_TOO_LARGE',
  });
  t.equal(master!.count('send'), 2, 'an oversized body is refused before any request');
});

t.test('every server down: the send fails with CONNECTION_LOST within its deadline', async (t) => {
  const [a] = await brokers(1, t);
  const addr = a!.addr;
  await a!.close();
  const producer = new Producer({ servers: [addr], sendTimeoutMs: 300 });
  t.teardown(() => producer.close());
  const started = Date.now();
  await t.rejects(producer.send('orders', { body: body('x') }, { queueId: 0 }), { code: 'CONNECTION_LOST' });
  t.ok(Date.now() - started < 3000, 'it gives up (a liveness guard: its deadline is 300 ms)');
});

t.test('the same key always goes to the same queue', async (t) => {
  const [master] = await brokers(1, t);
  const producer = new Producer({ servers: [master!.addr] });
  t.teardown(() => producer.close());
  const queuesOf = async (keys: string) =>
    new Set(
      await Promise.all(
        Array.from({ length: 10 }, () => producer.send('orders', { body: body(keys), keys }).then((r) => r.queueId)),
      ),
    );
  for (const key of ['order-1', 'order-2', 'order-3', 'user:42']) {
    const qs = await queuesOf(key);
    t.equal(qs.size, 1, `${key} -> one queue`);
    t.equal([...qs][0], keyHash(key) % 4);
  }
  t.equal(keyHash('order-1'), keyHash('order-1'));
  t.equal(keyHash(''), 0x811c9dc5, 'FNV-1a offset basis: stable across versions');
  const spread = new Set(Array.from({ length: 100 }, (_, i) => keyHash(`k${i}`) % 4));
  t.equal(spread.size, 4, 'different keys spread over all queues');
});

t.test('without key or queueId, sends go round robin over every queue', async (t) => {
  const [master] = await brokers(1, t);
  const producer = new Producer({ servers: [master!.addr] });
  t.teardown(() => producer.close());
  const queueIds: number[] = [];
  for (let i = 0; i < 8; i++) queueIds.push((await producer.send('orders', { body: body(`m${i}`) })).queueId);
  t.same([...queueIds].sort(), [0, 0, 1, 1, 2, 2, 3, 3]);
  t.equal(master!.count('route'), 1, 'the route is cached');
});

t.test('256 concurrent sends share one connection and coalesce into few requests and writes', async (t) => {
  const [master] = await brokers(1, t);
  const producer = new Producer({ servers: [master!.addr] });
  t.teardown(() => producer.close());
  await producer.send('orders', { body: body('warm') }, { queueId: 0 }); // connect, discover
  const before = { ...producer.stats };
  const sendsBefore = master!.count('send');
  const results = await Promise.all(
    Array.from({ length: 256 }, (_, i) => producer.send('orders', { body: body(`m${i}`) })),
  );
  const sendRequests = master!.count('send') - sendsBefore;
  t.ok(sendRequests <= 4, `256 messages in ${sendRequests} send requests (one per queue)`);
  t.ok(producer.stats.writes - before.writes <= 2, `in ${producer.stats.writes - before.writes} socket writes`);
  const ids = new Set(results.map((r) => `${r.queueId}/${r.queueOffset}`));
  t.equal(ids.size, 256, 'each caller got its own result');
  const stored = master!.topics.get('orders')!.flat().map((m) => Buffer.from(m.body).toString());
  for (let i = 0; i < 256; i++) t.ok(stored.includes(`m${i}`) || t.fail(`m${i} missing`));
});

t.test('send results answered as one batch object: each caller gets its own msgId and offset', async (t) => {
  const [master] = await brokers(1, t);
  const producer = new Producer({ servers: [master!.addr] });
  t.teardown(() => producer.close());
  const results = await Promise.all(Array.from({ length: 50 }, (_, i) => producer.send('orders', { body: body(`m${i}`) }, { queueId: 2 })));
  const stored = master!.topics.get('orders')![2]!;
  t.equal(stored.length, 50);
  for (const r of results) {
    const m = stored[r.queueOffset]!;
    t.same({ msgId: r.msgId, queueId: r.queueId }, { msgId: m.msgId, queueId: 2 }, `offset ${r.queueOffset}`);
  }
  t.equal(new Set(results.map((r) => r.msgId)).size, 50, 'every msgId differs');
  t.same(stored.map((m) => Buffer.from(m.body).toString()).sort(), Array.from({ length: 50 }, (_, i) => `m${i}`).sort(), 'bodies intact');
});

t.test('concurrent sends to two topics and several queues each land in their own topic and queue', async (t) => {
  const [master] = await brokers(1, t);
  master!.createTopic('audit', 3);
  const producer = new Producer({ servers: [master!.addr] });
  t.teardown(() => producer.close());
  const sends = Array.from({ length: 120 }, (_, i) => {
    const topic = i % 2 === 0 ? 'orders' : 'audit';
    const queueId = i % 3;
    return { topic, queueId, text: `${topic}-${queueId}-${i}` };
  });
  const results = await Promise.all(sends.map((s) => producer.send(s.topic, { body: body(s.text) }, { queueId: s.queueId })));
  t.ok(master!.count('send') <= 1 + 6, `${master!.count('send')} send requests for 6 topic-queue pairs`);
  for (let i = 0; i < sends.length; i++) {
    const s = sends[i]!;
    const r = results[i]!;
    t.equal(r.queueId, s.queueId);
    const stored = master!.topics.get(s.topic)![s.queueId]![r.queueOffset]!;
    if (Buffer.from(stored.body).toString() !== s.text) t.fail(`send ${i}: stored ${Buffer.from(stored.body).toString()} at its offset`);
  }
});

t.test('a queue id no topic can have rejects with BAD_REQUEST before any request (never a synchronous throw)', async (t) => {
  const [master] = await brokers(1, t);
  const producer = new Producer({ servers: [master!.addr] });
  t.teardown(() => producer.close());
  for (const queueId of [1024, 2 ** 31, Number.MAX_SAFE_INTEGER]) {
    let p: Promise<unknown> | undefined;
    t.doesNotThrow(() => {
      p = producer.send('orders', { body: body('x') }, { queueId });
    });
    await t.rejects(p!, { code: 'BAD_REQUEST', message: /no queue/ }, `queueId ${queueId}`);
  }
  t.equal(master!.count('send'), 0);
  t.equal((await producer.send('orders', { body: body('x') }, { queueId: 3 })).queueId, 3, 'the producer still works');
});

t.test('a malformed batch result rejects the sends with INTERNAL (no crash, no wrong result)', async (t) => {
  const [master] = await brokers(1, t);
  master!.sendResultForm = 'malformed';
  const producer = new Producer({ servers: [master!.addr] });
  t.teardown(() => producer.close());
  await t.rejects(producer.send('orders', { body: body('x') }, { queueId: 0 }), { code: 'INTERNAL', message: /malformed batch result/ });
});

t.test('with batching off, every send is its own request but writes still coalesce', async (t) => {
  const [master] = await brokers(1, t);
  const producer = new Producer({ servers: [master!.addr], batchSends: false });
  t.teardown(() => producer.close());
  await producer.send('orders', { body: body('warm') }, { queueId: 0 });
  const w0 = producer.stats.writes;
  await Promise.all(Array.from({ length: 100 }, (_, i) => producer.send('orders', { body: body(`m${i}`) })));
  t.equal(master!.count('send'), 101);
  t.ok(producer.stats.writes - w0 <= 2, `100 requests in ${producer.stats.writes - w0} writes`);
});

t.test('bad arguments reject the returned promise (never a synchronous throw), before any request', async (t) => {
  const [master] = await brokers(1, t);
  const producer = new Producer({ servers: [master!.addr] });
  t.teardown(() => producer.close());
  const calls: Array<() => Promise<unknown>> = [
    () => producer.send('', { body: body('x') }),
    () => producer.send('orders', { body: 'x' as unknown as Buffer }),
    () => producer.send('orders', { body: body('x') }, { queueId: -1 }),
    () => producer.send('orders', { body: body('x') }, { queueId: 1.5 }),
  ];
  for (const call of calls) {
    let p: Promise<unknown> | undefined;
    t.doesNotThrow(() => {
      p = call();
    });
    await t.rejects(p!, TypeError);
  }
  t.equal(master!.count('send'), 0);
  await producer.close();
  await t.rejects(producer.send('orders', { body: body('x') }), { code: 'CONNECTION_LOST' }, 'a closed producer');
});
