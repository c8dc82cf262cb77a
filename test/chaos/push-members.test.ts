// The chaos workload's consumer group (src/chaos/consumer-members.ts and consumer-member.ts)
// against one in-process master: two member processes consume a topic whose handler fails some
// tries and every try of a few messages, one member is SIGKILLed and a new one started (the
// consumer-kill fault), the drain ends, the DLQ is read; the history must pass the consumer-group
// checker and show retries, dead letters, the kill and rebalances. Then an orderly group (queue
// locks, retries in place). The runner's wiring without replicas: seconds, not the smoke test's
// minute.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { ALL_FAULTS, bodyOf, checkConsumers, CHAOS_CONSUMER_GROUP, ConsumerMembers, faultsValidFor, HistoryRecorder, parseHistory, type HistoryEvent } from '../../src/chaos/index.ts';
import { startMaster, until } from '../client/push-harness.ts';

const TOPIC = 'chaos';
const MESSAGES = 300;

t.test('consumer-kill is in `all` only for runs with push consumers (old seeds draw as before)', async (t) => {
  t.ok(ALL_FAULTS.includes('consumer-kill'));
  t.notOk(faultsValidFor(3, 1).includes('consumer-kill'));
  t.same(faultsValidFor(3, 1, 2), [...faultsValidFor(3, 1), 'consumer-kill'], 'the same list, consumer-kill last');
});

t.test('two members, one killed and replaced: every message consumed or dead-lettered, retries counted', async (t) => {
  const m = await startMaster(t, { delayLevelsMs: Array.from({ length: 18 }, () => 50) });
  m.createTopic(TOPIC, 4);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'raftmq-push-members-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const recorder = new HistoryRecorder(path.join(dir, 'history.jsonl'));
  t.teardown(() => recorder.close());
  const lines: string[] = [];
  const members = new ConsumerMembers({ count: 2, orderly: false, topic: TOPIC, servers: [m.addr], groupServers: new Map([['', [m.addr]]]), seed: 7, recorder, log: (l) => lines.push(l) });
  t.teardown(() => members.stopAll());
  members.startAll();
  const ids = Array.from({ length: MESSAGES }, (_, i) => `p0-${String(i).padStart(6, '0')}`);
  const sendSome = (from: number, to: number): void => {
    for (let i = from; i < to; i++) {
      m.send(TOPIC, i % 4, [bodyOf(ids[i]!).toString('latin1')], { keys: `k${i % 8}` });
      members.acked(ids[i]!);
    }
  };
  // Both members hold queues before the kill, and the replacement before the second half.
  await until(t, 'both members took queues', () => members.queuesOf(0) > 0 && members.queuesOf(1) > 0, 20_000);
  sendSome(0, MESSAGES / 2);
  await until(t, 'the members consumed some messages', () => members.calls >= 50, 20_000);
  await members.kill(1);
  members.start(1);
  await until(t, 'the replacement took queues', () => members.queuesOf(1) > 0, 20_000);
  sendSome(MESSAGES / 2, MESSAGES);
  t.ok(await members.drain(30_000), `every message consumed or failed for good (pending ${members.pendingCount})`);
  await members.stopAll();
  const dead = await members.readDlq();
  recorder.close();
  const events: HistoryEvent[] = parseHistory(fs.readFileSync(recorder.path, 'utf8'));
  const r = checkConsumers(events, ids.map((id) => ({ id, topic: TOPIC })));
  if (!r?.ok) t.comment(JSON.stringify({ overlaps: r?.overlaps, unconsumed: r?.unconsumed, retries: r?.retries, log: lines }));
  t.ok(r?.ok, 'the consumer-group checker passes');
  const g = r!.groups[0]!;
  t.equal(g.consumerGroup, CHAOS_CONSUMER_GROUP);
  t.equal(g.members, 3, 'two members and the replacement joined');
  t.equal(g.kills, 1);
  t.ok(g.rebalances >= 3, `each member's process took queues (${g.rebalances} rebalances)`);
  t.ok(g.failedCalls > 0, `handlers failed some tries (${g.failedCalls})`);
  t.ok(events.some((e) => e.op === 'consume' && e.type === 'call' && (e.reconsumeTimes ?? 0) > 0 && e.result === 'success'), 'a retried message succeeded');
  t.ok(g.dlq > 0 && dead >= g.dlq, `doomed messages reached the DLQ (${g.dlq} ids, ${dead} messages)`);
  t.equal(g.consumed + g.dlq, MESSAGES, 'each message consumed or dead-lettered');
});

t.test('an orderly group: messages of a key in queue order, failures retried in place, none at once on a queue', async (t) => {
  const count = 120;
  const m = await startMaster(t, { delayLevelsMs: Array.from({ length: 18 }, () => 50) });
  m.createTopic(TOPIC, 2);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'raftmq-push-orderly-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const recorder = new HistoryRecorder(path.join(dir, 'history.jsonl'));
  t.teardown(() => recorder.close());
  const members = new ConsumerMembers({ count: 2, orderly: true, topic: TOPIC, servers: [m.addr], groupServers: new Map([['', [m.addr]]]), seed: 3, recorder, log: () => undefined });
  t.teardown(() => members.stopAll());
  members.startAll();
  const ids = Array.from({ length: count }, (_, i) => `p1-${String(i).padStart(6, '0')}`);
  for (let i = 0; i < count; i++) {
    m.send(TOPIC, i % 2, [bodyOf(ids[i]!).toString('latin1')], { keys: `k${i % 4}` });
    members.acked(ids[i]!);
  }
  t.ok(await members.drain(30_000), `every message consumed or failed for good (pending ${members.pendingCount})`);
  await members.stopAll();
  await members.readDlq();
  recorder.close();
  const events = parseHistory(fs.readFileSync(recorder.path, 'utf8'));
  const r = checkConsumers(events, ids.map((id) => ({ id, topic: TOPIC })))!;
  if (!r.ok) t.comment(JSON.stringify({ overlaps: r.overlaps, unconsumed: r.unconsumed, retries: r.retries, orderly: r.orderly }));
  t.ok(r.ok, 'the consumer-group checker passes');
  const g = r.groups[0]!;
  t.equal(g.orderly, true);
  t.ok(g.failedCalls > 0, `handlers failed some tries (${g.failedCalls})`);
  const retried = events.filter((e) => e.op === 'consume' && e.type === 'call' && (e.reconsumeTimes ?? 0) > 0);
  t.ok(retried.length > 0 && retried.every((e) => e.op === 'consume' && e.queue?.includes(`/${TOPIC}/`)), 'retries in place, never through the retry topic');
  t.equal(g.consumed + g.dlq, count, 'each message consumed or dead-lettered');
});
