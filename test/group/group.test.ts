// Multi-process tests: real `raftmq node` processes on 127.0.0.1, killed and restarted by PID.
import t from 'tap';
import { Connection } from '../../src/net/index.ts';
import { Producer, PullConsumer } from '../../src/client/index.ts';
import { messagesToWire, sendResultOf, type SendBatchResult, type StoredMessage } from '../../src/protocol/index.ts';
import { LocalCluster } from '../../src/cli/index.ts';
import { bodyText, readAll, sendLoad, sleep, waitApplied } from '../helpers/group-io.ts';

t.test('3 nodes: 10,000 messages at 64 in flight; every replica applies the same entries in order; a slave serves them all', async (t) => {
  const cluster = await LocalCluster.create({ nodes: 3 });
  t.teardown(() => cluster.destroy());
  const master = await cluster.waitForMaster();
  const producer = new Producer({ servers: cluster.servers });
  t.teardown(() => producer.close());
  const { acked, failures } = await sendLoad(producer, 'orders', 10_000, 64, { prefix: 'm' });
  t.same(failures, [], 'no send failed');
  const after = (await cluster.statuses()).map((s) => s?.term);
  t.same(after, [master.term, master.term, master.term], 'no election happened under load (every replica still in the first term)');
  t.equal(acked.size, 10_000, 'all 10,000 acknowledged');
  const st = (await cluster.statuses()).find((s) => s?.nodeId === master.nodeId)!;
  await waitApplied(cluster, st.commitIndex);
  const views = await Promise.all(cluster.servers.map((s) => readAll(s, 'orders', 4)));
  const fingerprint = (v: StoredMessage[][]) => v.map((q) => q.map((m) => `${m.msgId}:${m.logIndex}:${m.queueOffset}:${bodyText(m)}`).join(','));
  t.same(fingerprint(views[1]), fingerprint(views[0]), 'replica 1 holds exactly what replica 0 holds');
  t.same(fingerprint(views[2]), fingerprint(views[0]), 'replica 2 holds exactly what replica 0 holds');
  const slave = cluster.nodes.find((n) => n.id !== master.nodeId)!;
  const consumer = new PullConsumer({ servers: [slave.clientAddr], group: 'g1', readFrom: 'slave' });
  t.teardown(() => consumer.close());
  const seen = new Set<string>();
  for await (const m of consumer.messages('orders', { fromBeginning: true, idleTimeoutMs: 1000 })) {
    seen.add(bodyText(m));
    if (seen.size === acked.size) break;
  }
  t.equal(seen.size, 10_000, 'the consumer on a slave read every message');
});

t.test('sends carry their bodies as the frame\'s blobs, stored byte for byte; bodies inline or blobs that do not match are BAD_REQUEST', async (t) => {
  const cluster = await LocalCluster.create({ nodes: 1 });
  t.teardown(() => cluster.destroy());
  const master = await cluster.waitForMaster();
  const [host, port] = master.addr.split(':');
  const conn = new Connection({ host, port: Number(port), reconnect: 'lazy', requestTimeoutMs: 8000 });
  t.teardown(() => conn.close());
  const batch = [
    { body: Buffer.from('b-0'), tags: 'a' },
    { body: Buffer.from([0, 255]), keys: 'k' },
    { body: Buffer.from('b-2'), properties: { p: '1' } },
  ];
  await t.rejects(conn.request({ type: 'send', topic: 'forms', queueId: 0, messages: batch } as never), { code: 'BAD_REQUEST', message: /blobs/ }, 'bodies inline are refused');
  const { wire, blobs } = messagesToWire(batch);
  const viaBlobs = await conn.request<{ type: 'sendResult'; id: number; batch: SendBatchResult }>({ type: 'send', topic: 'forms', queueId: 0, messages: wire } as never, { blobs });
  t.same([viaBlobs.batch.firstOffset, viaBlobs.batch.count], [0, 3], 'blob form accepted');
  for (const [messages, bodies] of [
    [[{ size: 5 }], [Buffer.from('abc')]],
    [[{ size: 1 }], [Buffer.from('abc')]],
    [[{ size: -1 }], [Buffer.from('abc')]],
    [{ size: 1 }, [Buffer.from('a')]],
  ] as const) {
    await t.rejects(conn.request({ type: 'send', topic: 'forms', queueId: 0, messages } as never, { blobs: bodies }), { code: 'BAD_REQUEST' }, JSON.stringify(messages));
  }
  const [q0] = await readAll(master.addr, 'forms', 1);
  t.same(
    q0!.map((m) => [Buffer.from(m.body).toString('hex'), m.tags, m.keys, m.properties]),
    [[Buffer.from('b-0').toString('hex'), 'a', '', {}], ['00ff', '', 'k', {}], [Buffer.from('b-2').toString('hex'), '', '', { p: '1' }]],
    'stored byte for byte, nothing of the refused ones',
  );
  t.same([0, 1, 2].map((i) => sendResultOf(viaBlobs.batch, i).msgId), q0!.map((m) => m.msgId), 'msgIds built from the batch result are the stored ones');
});

t.test('SIGKILL of the master under load: a new master (time printed), no acknowledged message lost, the old master catches up', async (t) => {
  const cluster = await LocalCluster.create({ nodes: 3 });
  t.teardown(() => cluster.destroy());
  const master = await cluster.waitForMaster();
  const producer = new Producer({ servers: cluster.servers, sendTimeoutMs: 3000 });
  t.teardown(() => producer.close());
  let killedAt = 0;
  let newMasterMs = -1;
  const load = sendLoad(producer, 'kills', 6000, 32, {
    prefix: 'k',
    onAck: (n) => {
      if (n === 2000 && killedAt === 0) {
        killedAt = Date.now();
        void cluster.kill(master.nodeId);
      }
    },
  });
  while (killedAt === 0) await sleep(5);
  const next = await cluster.waitForMaster(20_000, master.nodeId);
  newMasterMs = Date.now() - killedAt;
  t.comment(`new master ${next.nodeId} after ${newMasterMs} ms`);
  // A liveness guard many times the measured failover (tens of ms; the chaos runs report it), not
  // a measurement: a busy machine must not fail it.
  t.ok(newMasterMs <= 5000, `a new master (took ${newMasterMs} ms)`);
  const { acked, failures } = await load;
  t.same(failures, [], 'every send succeeded through the client retries');
  cluster.start(master.nodeId);
  const st = (await cluster.statuses()).find((s) => s?.nodeId === next.nodeId)!;
  await waitApplied(cluster, st.commitIndex, 15_000);
  for (const addr of cluster.servers) {
    const stored = new Set((await readAll(addr, 'kills', 4)).flat().map(bodyText));
    const lost = [...acked].filter((b) => !stored.has(b));
    t.same(lost, [], `no acknowledged message is missing on ${addr}`);
  }
});

t.test('5 nodes: 2 killed keep taking writes; 3 killed refuse writes with a clear error; one back recovers', async (t) => {
  const cluster = await LocalCluster.create({ nodes: 5 });
  t.teardown(() => cluster.destroy());
  const master = await cluster.waitForMaster();
  const producer = new Producer({ servers: cluster.servers, sendTimeoutMs: 2000 });
  t.teardown(() => producer.close());
  const others = cluster.nodes.map((n) => n.id).filter((id) => id !== master.nodeId);
  await cluster.kill(others[0]);
  await cluster.kill(others[1]);
  const two = await sendLoad(producer, 'five', 200, 8, { prefix: 'a' });
  t.same(two.failures, [], 'writes go on with 2 of 5 down');
  await cluster.kill(others[2]);
  const started = Date.now();
  const err = await producer.send('five', { body: Buffer.from('no quorum') }).then(() => null, (e: Error & { code?: string }) => e);
  const tookMs = Date.now() - started;
  t.ok(err, 'a write with 3 of 5 down fails');
  t.ok(err && ['TIMEOUT', 'NO_QUORUM', 'NOT_MASTER'].includes(String(err.code)), `with a typed error (${err?.code}: ${err?.message})`);
  t.ok(tookMs < 2000 * 3 + 2000, `and does not hang past the timeouts (${tookMs} ms)`);
  cluster.start(others[2]);
  await cluster.waitForMaster(30_000);
  const back = await sendLoad(producer, 'five', 50, 4, { prefix: 'b' });
  t.same(back.failures, [], 'writes resume once a majority is back');
});

t.test('an old master cut off by SIGSTOP cannot acknowledge a write', async (t) => {
  const cluster = await LocalCluster.create({ nodes: 3 });
  t.teardown(() => cluster.destroy());
  const master = await cluster.waitForMaster();
  const [host, port] = master.addr.split(':');
  const conn = new Connection({ host, port: Number(port), reconnect: 'lazy', requestTimeoutMs: 8000 });
  t.teardown(() => conn.close());
  await conn.request({ type: 'status' });
  cluster.signal(master.nodeId, 'SIGSTOP');
  // Sent while it is stopped: it sits in the old master's socket until SIGCONT.
  const stale = conn.request({ type: 'send', topic: 'stale', queueId: 0, messages: [{ size: 13 }] } as never, { blobs: [Buffer.from('from the past')] }).then(
    () => 'acknowledged',
    (e: Error & { code?: string }) => String(e.code),
  );
  const stoppedAt = Date.now();
  const next = await cluster.waitForMaster(20_000, master.nodeId);
  t.not(next.nodeId, master.nodeId, `${next.nodeId} took over`);
  // Measured, not asserted (the target, 1.5 s, is for the chaos runs): the election timeout path.
  t.comment(`new master after a silent failure: ${Date.now() - stoppedAt} ms`);
  cluster.signal(master.nodeId, 'SIGCONT');
  const outcome = await stale;
  t.not(outcome, 'acknowledged', `the old master refused or timed out (${outcome})`);
  const views = await readAll(next.addr, 'stale', 4).catch(() => [] as StoredMessage[][]);
  t.equal(views.flat().length, 0, 'and the message is not in the log of the new master');
});

t.test('graceful stop of the master hands leadership over with no failed send', async (t) => {
  const cluster = await LocalCluster.create({ nodes: 3 });
  t.teardown(() => cluster.destroy());
  const master = await cluster.waitForMaster();
  const producer = new Producer({ servers: cluster.servers });
  t.teardown(() => producer.close());
  let stopped: Promise<number | null> | null = null;
  const { acked, failures } = await sendLoad(producer, 'graceful', 3000, 16, {
    prefix: 'g',
    onAck: (n) => {
      if (n === 1000 && !stopped) stopped = cluster.stop(master.nodeId);
    },
  });
  t.equal(await stopped, 0, 'the old master exited 0');
  t.same(failures, [], 'no send failed');
  t.equal(acked.size, 3000);
  const next = await cluster.waitForMaster(20_000, master.nodeId);
  t.not(next.nodeId, master.nodeId, 'another replica is master');
});

t.test('a rolling restart of every node (SIGTERM, restart, catch up) loses nothing and causes no election storm', async (t) => {
  const cluster = await LocalCluster.create({ nodes: 3 });
  t.teardown(() => cluster.destroy());
  const first = await cluster.waitForMaster();
  const producer = new Producer({ servers: cluster.servers });
  t.teardown(() => producer.close());
  let done = false;
  const load = sendLoad(producer, 'rolling', 1_000_000, 8, { prefix: 'r', stopEarly: () => done });
  for (const n of cluster.nodes) {
    t.equal(await cluster.stop(n.id), 0, `${n.id} stopped gracefully`);
    cluster.start(n.id);
    const leader = await cluster.waitForMaster(30_000);
    const st = (await cluster.statuses()).find((s) => s?.nodeId === leader.nodeId)!;
    await waitApplied(cluster, st.commitIndex, 15_000);
  }
  done = true;
  const { acked, failures } = await load;
  t.same(failures, [], 'no send failed during the rolling restart');
  t.ok(acked.size > 0, `${acked.size} messages acknowledged during the restart`);
  const last = await cluster.waitForMaster();
  // Each graceful stop of the master is one hand-over (one term); allow one extra election per node.
  t.ok(last.term - first.term <= 2 * cluster.nodes.length, `terms went from ${first.term} to ${last.term}: no election storm`);
  const leaderStatus = (await cluster.statuses()).find((s) => s?.nodeId === last.nodeId)!;
  await waitApplied(cluster, leaderStatus.commitIndex, 15_000);
  for (const addr of cluster.servers) {
    const stored = new Set((await readAll(addr, 'rolling', 4)).flat().map(bodyText));
    t.same([...acked].filter((b) => !stored.has(b)), [], `nothing acknowledged is missing on ${addr}`);
  }
});
