// The push consumer's pure parts: a process queue's committable offset and flow control, the
// concurrent service's batching, bounded handler calls and sendBack, and the local offset file.
import t from 'tap';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  ConsumeConcurrentlyService,
  ConsumeOrderlyService,
  HEARTBEAT_FRESH_MS,
  LocalFileOffsetStore,
  ProcessQueue,
  pullLoop,
  type Brokers,
  type ClusterClient,
  type PullResponse,
  RemoteOffsetStore,
  Semaphore,
  type ConsumeEvent,
  type ConsumeHost,
  type MessageQueue,
  type QueueEntry,
} from '../../src/client/index.ts';

const mq: MessageQueue = { topic: 'T', brokerName: 'b', queueId: 0 };

function entry(offset: number, bytes = 10): QueueEntry {
  const msg = { topic: 'T', queueId: 0, queueOffset: offset, logIndex: 1, msgId: `m${offset}`, storeTimestamp: 0, keys: '', tags: '', properties: {}, body: new Uint8Array(bytes), reconsumeTimes: 0, brokerName: 'b' };
  return { msg, offset, bytes };
}

t.test('the committable offset is the lowest not yet consumed, or the pull position when none is held', async (t) => {
  const pq = new ProcessQueue(mq, 5);
  t.equal(pq.committableOffset(), 5);
  const es = [5, 6, 7, 8].map((o) => entry(o));
  pq.put(es, 12); // 9..11 filtered by tag
  t.equal(pq.committableOffset(), 5);
  pq.remove([es[1]!, es[2]!]);
  t.equal(pq.committableOffset(), 5, 'a message in a handler holds back the commit');
  pq.remove([es[0]!]);
  t.equal(pq.committableOffset(), 8);
  pq.remove([es[3]!]);
  t.equal(pq.committableOffset(), 12, 'past the filtered messages');
  pq.put([entry(11)], 12);
  t.equal(pq.count, 0, 'a repeated pull below the position is ignored');
});

t.test('flow control: full at the count or byte threshold, a removal wakes the waiting pull', async (t) => {
  const pq = new ProcessQueue(mq, 0);
  const es = [0, 1, 2].map((o) => entry(o, 100));
  pq.put(es, 3);
  t.ok(pq.isFull(3, 1_000_000));
  t.ok(pq.isFull(100, 300));
  t.notOk(pq.isFull(4, 301));
  let woke = false;
  const waiting = pq.waitForRoom(60_000).then(() => (woke = true));
  pq.remove([es[0]!]);
  await waiting;
  t.ok(woke);
  t.notOk(pq.isFull(3, 1_000_000));
});

t.test('entries handed out and given back come first, in offset order', async (t) => {
  const pq = new ProcessQueue(mq, 0);
  pq.put([0, 1, 2, 3].map((o) => entry(o)), 4);
  const a = pq.takePending(2);
  t.strictSame(a.map((e) => e.offset), [0, 1]);
  pq.returnPending([a[1]!]);
  t.strictSame(pq.takePending(10).map((e) => e.offset), [1, 2, 3]);
});

function fakeHost(over: Partial<ConsumeHost> & { sendBackOk?: (e: QueueEntry) => boolean } = {}): ConsumeHost & { events: ConsumeEvent[]; sentBack: number[]; progressed: number[] } {
  const events: ConsumeEvent[] = [];
  const sentBack: number[] = [];
  const progressed: number[] = [];
  return {
    consumeModel: 'CLUSTERING',
    consumeMessageBatchMaxSize: 2,
    maxReconsumeTimes: 16,
    suspendCurrentQueueTimeMillis: 1,
    consumeLaterMs: 5,
    heartbeatAnsweredAt: () => Date.now(),
    semaphore: new Semaphore(2),
    running: true,
    sendBack: async (_mq, e) => {
      const ok = over.sendBackOk?.(e) ?? true;
      if (ok) sentBack.push(e.offset);
      return ok;
    },
    progress: (pq) => progressed.push(pq.committableOffset()),
    count: (e) => events.push(e),
    events,
    sentBack,
    progressed,
    ...over,
  };
}

const settle = async (until: () => boolean) => {
  for (let i = 0; i < 1000 && !until(); i++) await new Promise((r) => setTimeout(r, 2));
};

t.test('concurrently: batches of consumeMessageBatchMaxSize, at most consumeThreadMax at once, failures sent back', async (t) => {
  const host = fakeHost();
  let running = 0;
  let most = 0;
  const batches: number[][] = [];
  const svc = new ConsumeConcurrentlyService(host, async (msgs) => {
    running++;
    most = Math.max(most, running);
    batches.push(msgs.map((m) => m.queueOffset));
    await new Promise((r) => setTimeout(r, 5));
    running--;
    return msgs[0]!.queueOffset === 2 ? 'RECONSUME_LATER' : 'CONSUME_SUCCESS';
  });
  const pq = new ProcessQueue(mq, 0);
  pq.put([0, 1, 2, 3, 4, 5, 6].map((o) => entry(o)), 7);
  svc.dispatch(pq);
  await settle(() => pq.count === 0);
  t.equal(pq.count, 0);
  t.strictSame(batches.map((b) => b.length), [2, 2, 2, 1]);
  t.ok(most <= 2, `at most 2 at once (${most})`);
  t.strictSame(host.sentBack, [2, 3], 'the failed batch was sent back');
  t.equal(pq.committableOffset(), 7);
});

t.test('concurrently: a throw is a failure; broadcasting drops failures without sendBack', async (t) => {
  const host = fakeHost({ consumeModel: 'BROADCASTING' });
  const svc = new ConsumeConcurrentlyService(host, () => {
    throw new Error('boom');
  });
  const pq = new ProcessQueue(mq, 0);
  pq.put([entry(0)], 1);
  svc.dispatch(pq);
  await settle(() => pq.count === 0);
  t.strictSame(host.sentBack, []);
  t.ok(host.events.includes('broadcastFailed'));
});

t.test('concurrently: a message whose sendBack failed is consumed again here, one reconsume later', async (t) => {
  let failSendBack = true;
  const host = fakeHost({ sendBackOk: () => !failSendBack });
  const seen: string[] = [];
  const svc = new ConsumeConcurrentlyService(host, async (msgs) => {
    seen.push(`${msgs[0]!.queueOffset}:${msgs[0]!.reconsumeTimes}`);
    if (msgs[0]!.reconsumeTimes === 0) return 'RECONSUME_LATER';
    return 'CONSUME_SUCCESS';
  });
  const pq = new ProcessQueue(mq, 0);
  pq.put([entry(0)], 1);
  svc.dispatch(pq);
  await settle(() => pq.count === 0);
  t.strictSame(seen, ['0:0', '0:1'], 'kept, and consumed again locally with reconsumeTimes 1');
  t.strictSame(host.sentBack, []);
  t.ok(host.events.includes('sendBackFailed'));
  failSendBack = false;
});

t.test('pulls follow the suggested replica until an error, then go back to the master', async (t) => {
  const prefers: string[][] = [];
  const answers: Array<Partial<PullResponse> | Error> = [
    { suggestNodeId: 'n2' },
    {},
    Object.assign(new Error('lost'), { code: 'CONNECTION_LOST' }),
    {},
  ];
  const pq = new ProcessQueue(mq, 0);
  const client = {
    master: 'master:1',
    onMasterChange: () => () => undefined,
    callAny: async (frame: { offset: number }, call: { prefer: string[] }) => {
      prefers.push(call.prefer);
      const a = answers.shift();
      if (answers.length === 0) pq.drop();
      if (a instanceof Error) throw a;
      return { type: 'pullResult', id: 0, messages: [], minOffset: 0, maxOffset: 0, nextOffset: frame.offset, ...a };
    },
  } as unknown as ClusterClient;
  const brokers = { client: () => client, nodeAddr: (_b: string, id: string) => (id === 'n2' ? 'slave:2' : undefined) } as unknown as Brokers;
  await pullLoop(pq, { brokers, group: 'G', expression: '*', tags: null, pullBatchSize: 32, longPollMs: 10, requestTimeoutMs: 100, countMax: 10, bytesMax: 1000, running: () => true, dispatch: () => undefined });
  t.strictSame(prefers, [['master:1'], ['slave:2'], ['slave:2'], ['master:1']]);
});

t.test('a pull parked at a master that another replaced is abandoned, and the queue is pulled from the new master at the same offset', async (t) => {
  const prefers: string[][] = [];
  const offsets: number[] = [];
  const pq = new ProcessQueue(mq, 7);
  const listeners = new Set<(addr: string) => void>();
  const client = {
    master: 'master:1' as string,
    onMasterChange: (l: (addr: string) => void) => (listeners.add(l), () => void listeners.delete(l)),
    callAny: (frame: { offset: number }, call: { prefer: string[] }) => {
      prefers.push(call.prefer);
      offsets.push(frame.offset);
      if (call.prefer[0] === 'master:1') return new Promise(() => undefined); // a stopped master: no answer ever
      pq.drop();
      return Promise.resolve({ type: 'pullResult', id: 0, messages: [], minOffset: 0, maxOffset: 7, nextOffset: frame.offset });
    },
  };
  const brokers = { client: () => client, nodeAddr: () => undefined } as unknown as Brokers;
  setTimeout(() => {
    client.master = 'master:2';
    for (const l of listeners) l('master:2');
  }, 150);
  const started = Date.now();
  await pullLoop(pq, { brokers, group: 'G', expression: '*', tags: null, pullBatchSize: 32, longPollMs: 15_000, requestTimeoutMs: 3000, countMax: 10, bytesMax: 1000, running: () => true, dispatch: () => undefined });
  t.strictSame(prefers, [['master:1'], ['master:2']], 'pulled again from the new master');
  t.strictSame(offsets, [7, 7], 'at the same offset');
  t.ok(Date.now() - started < 10_000, 'long before the parked pull would have timed out (liveness guard)');
});

t.test('a pull sent while no master was known is abandoned once one is, and the queue is pulled from it', async (t) => {
  const prefers: string[][] = [];
  const pq = new ProcessQueue(mq, 3);
  const listeners = new Set<(addr: string) => void>();
  const client = {
    master: null as string | null,
    onMasterChange: (l: (addr: string) => void) => (listeners.add(l), () => void listeners.delete(l)),
    callAny: (frame: { offset: number }, call: { prefer: string[] }) => {
      prefers.push(call.prefer);
      if (call.prefer.length === 0) return new Promise(() => undefined); // went to a replica that stopped answering
      pq.drop();
      return Promise.resolve({ type: 'pullResult', id: 0, messages: [], minOffset: 0, maxOffset: 3, nextOffset: frame.offset });
    },
  };
  const brokers = { client: () => client, nodeAddr: () => undefined } as unknown as Brokers;
  setTimeout(() => {
    client.master = 'master:3';
    for (const l of listeners) l('master:3');
  }, 150);
  await pullLoop(pq, { brokers, group: 'G', expression: '*', tags: null, pullBatchSize: 32, longPollMs: 15_000, requestTimeoutMs: 3000, countMax: 10, bytesMax: 1000, running: () => true, dispatch: () => undefined });
  t.strictSame(prefers, [[], ['master:3']]);
  t.equal(listeners.size, 0, 'every pull unsubscribed from master changes');
});

t.test('orderly: one batch at a time in order; a suspended batch comes again first; DLQ after maxReconsumeTimes', async (t) => {
  const host = fakeHost({ maxReconsumeTimes: 2, consumeMessageBatchMaxSize: 1 });
  const seen: string[] = [];
  let running = 0;
  let overlapped = false;
  const svc = new ConsumeOrderlyService(host, async (msgs) => {
    if (++running > 1) overlapped = true;
    const m = msgs[0]!;
    seen.push(`${m.queueOffset}:${m.reconsumeTimes}`);
    await new Promise((r) => setTimeout(r, 1));
    running--;
    if (m.queueOffset === 1) return 'SUSPEND_CURRENT_QUEUE_A_MOMENT'; // always fails: DLQ after 2 retries
    if (m.queueOffset === 2 && m.reconsumeTimes === 0) throw new Error('once');
    return 'SUCCESS';
  });
  const pq = new ProcessQueue(mq, 0);
  pq.locked = true;
  pq.lastLockAt = Date.now();
  pq.put([0, 1, 2, 3].map((o) => entry(o)), 4);
  svc.dispatch(pq);
  await settle(() => pq.count === 0 && !pq.consuming);
  t.notOk(overlapped, 'never two batches of a queue at once');
  t.strictSame(seen, ['0:0', '1:0', '1:1', '1:2', '2:0', '2:1', '3:0']);
  t.strictSame(host.sentBack, [1], 'to the DLQ after maxReconsumeTimes tries');
  t.equal(pq.committableOffset(), 4);
});

t.test('orderly: a queue without a live lock is not consumed', async (t) => {
  const host = fakeHost();
  let calls = 0;
  const svc = new ConsumeOrderlyService(host, async () => {
    calls++;
    return 'SUCCESS' as const;
  });
  const pq = new ProcessQueue(mq, 0);
  pq.locked = true;
  pq.lastLockAt = Date.now() - 31_000;
  pq.put([entry(0)], 1);
  svc.dispatch(pq);
  await settle(() => !pq.consuming);
  t.equal(calls, 0);
});

t.test('orderly: a member whose heartbeats the master has not answered for HEARTBEAT_FRESH_MS starts no batch (it may have been dropped and its lock given away)', async (t) => {
  let answeredAt = Date.now() - HEARTBEAT_FRESH_MS - 1;
  const host = fakeHost({ heartbeatAnsweredAt: () => answeredAt });
  let calls = 0;
  const svc = new ConsumeOrderlyService(host, async () => {
    calls++;
    return 'SUCCESS' as const;
  });
  const pq = new ProcessQueue(mq, 0);
  pq.locked = true;
  pq.lastLockAt = Date.now();
  pq.put([entry(0)], 1);
  svc.dispatch(pq);
  await settle(() => !pq.consuming);
  t.equal(calls, 0, 'stale heartbeat: not consumed');
  answeredAt = Date.now();
  svc.dispatch(pq);
  await settle(() => pq.count === 0 && !pq.consuming);
  t.equal(calls, 1, 'a fresh heartbeat (and the lock): consumed');
});

t.test('remote offsets: a failed commit is kept and retried by the next round', async (t) => {
  let fail = true;
  const commits: number[] = [];
  const store = new RemoteOffsetStore(
    async () => -1,
    async (_mq, offset) => {
      if (fail) throw new Error('no master');
      commits.push(offset);
    },
  );
  store.update(mq, 7);
  t.equal(await store.persist([mq]), false);
  fail = false;
  t.equal(await store.persist([mq]), true);
  t.equal(await store.persist([mq]), true, 'nothing new: nothing sent');
  t.strictSame(commits, [7]);
});

t.test('local offsets: one JSON file per member and group, replaced atomically, read back', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'raftmq-offsets-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const a = new LocalFileOffsetStore(dir, 'host@1@ab', 'G');
  t.equal(await a.read(mq), -1);
  a.update(mq, 42);
  t.equal(await a.persist([mq]), true);
  a.update(mq, 43);
  t.equal(await a.persist([mq]), true);
  const folder = path.dirname(a.file);
  t.strictSame(await readdir(folder), ['offsets.json'], 'no temporary file left');
  t.match(JSON.parse(await readFile(a.file, 'utf8')), { version: 1, offsets: [{ topic: 'T', brokerName: 'b', queueId: 0, offset: 43 }] });
  const b = new LocalFileOffsetStore(dir, 'host@1@ab', 'G');
  t.equal(await b.read(mq), 43);
  t.equal(await new LocalFileOffsetStore(dir, 'other@2@cd', 'G').read(mq), -1, 'another member has its own file');
});
