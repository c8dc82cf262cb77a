// Consumer groups on real processes: a group of 3 replicas under continuous load, and two groups
// of push-consumer members, each member its own process (scripts/bench/push-member.ts):
// - a concurrently consuming group on a topic of 8 queues: members join, one leaves (SIGTERM),
//   one is SIGKILLed, the master is SIGKILLed, and the next master is SIGSTOPped (pulls parked at
//   it must follow the new master at once). After every step settles, the live members'
//   queues are disjoint and cover the topic; at the end every acknowledged message was consumed
//   at least once, and a message consumed twice was consumed again only shortly after a step (a
//   rebalance or a crash replays what came after the last offset commit).
// - an orderly group on a keyed topic through the same faults: per key, messages are first
//   handled in the order they were acknowledged (no reordering).
// - a group whose handlers fail 10% of the tries, and every try of the messages with one key,
//   on the first group's topic, with shortened delay levels: every acknowledged message ends
//   consumed or in the group's DLQ after exactly maxReconsumeTimes + 1 failed tries, and a retry
//   never comes before its level's delay.
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { Admin, Producer, PullConsumer } from '../../src/client/index.ts';
import { LocalCluster } from '../../src/cli/index.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const MEMBER = path.join(ROOT, 'scripts', 'bench', 'push-member.ts');
const QUEUES = 8;
const KEYS = 16;
/** Liveness guards, many times what each step takes. */
const SETTLE_WAIT_MS = 30_000;
const DRAIN_WAIT_MS = 60_000;
/** A replay after a step comes within an offset commit interval (5 s) of it, plus the rebalance
 *  and the catch-up: generous. */
const REPLAY_WINDOW_MS = 15_000;
/** Delay level n waits n x 100 ms; a retry after r failed tries waits level 3 + r. */
const DELAY_LEVELS = Array.from({ length: 8 }, (_, i) => `${(i + 1) * 100}ms`).join(' ');
const MAX_RECONSUME = 2;
const POISON = 'poison';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, timeoutMs: number, probe: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(50);
  }
}

interface Consumed {
  readonly t: number;
  readonly r: number;
  readonly f?: number;
  readonly q: string;
  readonly o: number;
  readonly k: string;
  readonly b: string;
  readonly member: string;
}

class Member {
  readonly proc: ChildProcess;
  queues: string[] = [];
  rebalancedAt = 0;
  ready = false;
  exited = false;

  constructor(
    readonly id: string,
    servers: string[],
    group: string,
    topic: string,
    orderly: boolean,
    sink: Consumed[],
    extra: readonly string[] = [],
  ) {
    const args = ['--import', 'tsx', MEMBER, '--servers', servers.join(','), '--group', group, '--topic', topic, '--client-id', id, '--each', ...(orderly ? ['--orderly'] : []), ...extra];
    this.proc = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    this.proc.on('exit', () => (this.exited = true));
    readline.createInterface({ input: this.proc.stdout! }).on('line', (line) => {
      const ev = JSON.parse(line) as { ev: string; t: number; queues?: string[]; q: string; o: number; k: string; b: string; r: number; f?: number };
      if (ev.ev === 'ready') this.ready = true;
      else if (ev.ev === 'rebalance') {
        this.queues = ev.queues!;
        this.rebalancedAt = ev.t;
      } else if (ev.ev === 'msg') sink.push({ t: ev.t, r: ev.r, ...(ev.f === 1 ? { f: 1 } : {}), q: ev.q, o: ev.o, k: ev.k, b: ev.b, member: id });
    });
  }
}

/** The live members' queues are disjoint and cover all QUEUES. */
function settled(members: readonly Member[]): boolean {
  const live = members.filter((m) => !m.exited);
  const owned = live.flatMap((m) => m.queues);
  return live.every((m) => m.ready) && owned.length === QUEUES && new Set(owned).size === QUEUES;
}

t.test('push-consumer groups through joins, a leave, a member SIGKILL and a master failover', async (t) => {
  const cluster = await LocalCluster.create({ nodes: 3, extra: { messageDelayLevel: DELAY_LEVELS } });
  t.teardown(() => cluster.destroy());
  await cluster.waitForMaster(20_000);
  const admin = new Admin({ servers: cluster.servers });
  await admin.createTopic('work', QUEUES);
  await admin.createTopic('ordered', QUEUES);
  await admin.close();

  const consumed: Consumed[] = [];
  const orderedConsumed: Consumed[] = [];
  const members: Member[] = [];
  const orderly: Member[] = [];
  const retried: Consumed[] = [];
  const retriers: Member[] = [];
  const join = (id: string): Member => {
    const m = new Member(id, cluster.servers, 'workers', 'work', false, consumed);
    members.push(m);
    return m;
  };
  const joinOrderly = (id: string): Member => {
    const m = new Member(id, cluster.servers, 'sequencers', 'ordered', true, orderedConsumed);
    orderly.push(m);
    return m;
  };
  for (let i = 0; i < 2; i++) {
    retriers.push(new Member(`r${i}`, cluster.servers, 'retriers', 'work', false, retried, ['--fail-percent', '10', '--fail-key', POISON, '--max-reconsume', String(MAX_RECONSUME)]));
  }
  t.teardown(() => {
    for (const m of [...members, ...orderly, ...retriers]) if (!m.exited) m.proc.kill('SIGKILL');
  });
  const steps: number[] = [];
  const settle = async (what: string): Promise<void> => {
    await until(`${what}: the groups settle`, SETTLE_WAIT_MS, () => settled(members) && settled(orderly) && settled(retriers));
    t.pass(`${what}: every queue has exactly one live owner in each group`);
  };

  for (let i = 0; i < 3; i++) join(`w${i}`);
  for (let i = 0; i < 2; i++) joinOrderly(`s${i}`);
  await settle('3 members and 2 orderly members');

  // Continuous load: unkeyed sends to `work`, keyed (in order per key) to `ordered`.
  const producer = new Producer({ servers: cluster.servers, sendTimeoutMs: 15_000 });
  t.teardown(() => producer.close());
  const acked = new Set<string>();
  const orderedAcked = new Map<string, number[]>(); // key -> acknowledged sequence numbers, in ack order
  let stop = false;
  // A failed check must not leave the send loops running (they would keep the test alive).
  t.teardown(() => {
    stop = true;
  });
  let n = 0;
  const unkeyed = async (): Promise<void> => {
    while (!stop) {
      const poison = n % 100 === 0;
      const id = `m${n++}`;
      try {
        await producer.send('work', { body: Buffer.from(id), ...(poison ? { keys: POISON } : {}) });
        acked.add(id);
      } catch {
        // not acknowledged: may or may not be stored
      }
      await sleep(10); // a steady load the members keep up with: a backlog would delay the post-SIGSTOP check
    }
  };
  const keyed = async (k: number): Promise<void> => {
    const key = `key${k}`;
    const seqs: number[] = [];
    orderedAcked.set(key, seqs);
    for (let seq = 0; !stop; seq++) {
      // One send at a time per key: the next is sent only once this one is acknowledged.
      try {
        await producer.send('ordered', { body: Buffer.from(`${key}:${seq}`), keys: key });
        seqs.push(seq);
      } catch {
        // not acknowledged; the next seq follows it
      }
      await sleep(20);
    }
  };
  const load = Promise.all([...Array.from({ length: 8 }, unkeyed), ...Array.from({ length: KEYS }, (_, k) => keyed(k))]);

  await sleep(1500);
  steps.push(Date.now());
  join('w3');
  await settle('a fourth member joined');
  await sleep(1500);
  steps.push(Date.now());
  members[1]!.proc.kill('SIGTERM');
  await settle('a member left');
  await sleep(1500);
  steps.push(Date.now());
  members[2]!.proc.kill('SIGKILL');
  orderly[0]!.proc.kill('SIGKILL');
  joinOrderly('s2');
  await settle('a member and an orderly member were SIGKILLed');
  await sleep(1500);
  const master = await cluster.waitForMaster();
  steps.push(Date.now());
  await cluster.kill(master.nodeId);
  await cluster.waitForMaster(20_000, master.nodeId);
  await settle('the master failed over');
  // The killed replica comes back; then the new master stops answering (SIGSTOP): pulls parked
  // at it must move to the next master, not wait out their long poll (15 s).
  cluster.start(master.nodeId);
  await sleep(1500);
  const second = await cluster.waitForMaster();
  const stoppedProc = cluster.nodes.find((x) => x.id === second.nodeId)!.proc!;
  steps.push(Date.now());
  const stoppedAt = Date.now();
  const firstAfterStop = n;
  stoppedProc.kill('SIGSTOP');
  t.teardown(() => void stoppedProc.kill('SIGCONT'));
  await cluster.waitForMaster(20_000, second.nodeId);
  // A liveness guard (measured about 1 s). The unit tests of the pull loop show the mechanism;
  // the time taken is printed to compare with the 15 s + 3 s a parked pull alone would wait.
  await until('the workers consume messages sent after the master stopped', 30_000, () => consumed.some((c) => Number(c.b.slice(1)) >= firstAfterStop));
  t.pass(`the workers consume again ${Date.now() - stoppedAt} ms after SIGSTOP of the master`);
  stoppedProc.kill('SIGCONT');
  await settle('the stopped master is back as a slave');
  await sleep(1500);
  stop = true;
  await load;

  // Drain: every acknowledged message consumed at least once.
  const firstSeen = (list: Consumed[]) => new Set(list.map((c) => c.b));
  await until('every acknowledged message is consumed', DRAIN_WAIT_MS, () => {
    const seen = firstSeen(consumed);
    return [...acked].every((id) => seen.has(id));
  });
  t.ok(acked.size > 1000, `${acked.size} acknowledged to the concurrent group's topic`);
  t.pass('every acknowledged message was consumed at least once');

  // Duplicates: a message consumed again only within REPLAY_WINDOW_MS after a step.
  const firstAt = new Map<string, number>();
  let duplicates = 0;
  const perStep = steps.map(() => 0);
  const outside: string[] = [];
  for (const c of consumed) {
    if (!firstAt.has(c.b)) {
      firstAt.set(c.b, c.t);
      continue;
    }
    duplicates++;
    const step = steps.findLastIndex((s) => c.t >= s);
    if (step >= 0) perStep[step]!++;
    if (!steps.some((s) => c.t >= s && c.t <= s + REPLAY_WINDOW_MS)) outside.push(`${c.b} again at ${c.t} by ${c.member}`);
  }
  t.comment(`consumed ${consumed.length} times for ${firstAt.size} messages: ${duplicates} repeats (after join, leave, SIGKILL, failover, master SIGSTOP: ${perStep.join(', ')})`);
  t.same(outside.slice(0, 5), [], 'no message consumed twice away from a rebalance or a crash');

  // Ordered: per key, the first handling of each acknowledged message follows the ack order.
  await until('every acknowledged keyed message is consumed', DRAIN_WAIT_MS, () => {
    const seen = firstSeen(orderedConsumed);
    return [...orderedAcked].every(([key, seqs]) => seqs.every((s) => seen.has(`${key}:${s}`)));
  });
  const firstOrder = new Map<string, number[]>();
  const seenOrdered = new Set<string>();
  for (const c of orderedConsumed) {
    if (seenOrdered.has(c.b)) continue;
    seenOrdered.add(c.b);
    const [key, seq] = c.b.split(':');
    if (!firstOrder.has(key!)) firstOrder.set(key!, []);
    firstOrder.get(key!)!.push(Number(seq));
  }
  const reordered: string[] = [];
  for (const [key, seqs] of orderedAcked) {
    const got = (firstOrder.get(key) ?? []).filter((s) => seqs.includes(s));
    if (got.join(',') !== seqs.join(',')) reordered.push(`${key}: ${got.slice(0, 8).join(',')}... vs ${seqs.slice(0, 8).join(',')}...`);
  }
  const orderedCount = [...orderedAcked.values()].reduce((a, s) => a + s.length, 0);
  t.ok(orderedCount > 200, `${orderedCount} keyed messages acknowledged over ${KEYS} keys`);
  t.same(reordered, [], 'per key, messages were first handled in acknowledgement order (reordered = 0)');

  // Retries: every acknowledged message consumed by the failing group, or in its DLQ.
  const succeeded = () => new Set(retried.filter((c) => c.f !== 1).map((c) => c.b));
  const dlqBodies = async (): Promise<Map<string, number>> => {
    const dlq = new PullConsumer({ servers: cluster.servers, group: 'dlq-reader' });
    const found = new Map<string, number>();
    try {
      for await (const m of dlq.messages('%DLQ%retriers', { fromBeginning: true, idleTimeoutMs: 500 })) found.set(Buffer.from(m.body).toString(), m.reconsumeTimes);
    } catch {
      // no DLQ topic yet
    } finally {
      await dlq.close();
    }
    return found;
  };
  let inDlq = new Map<string, number>();
  await until('every acknowledged message consumed or dead-lettered by the failing group', DRAIN_WAIT_MS, async () => {
    const ok = succeeded();
    if ([...acked].every((id) => ok.has(id))) return true;
    inDlq = await dlqBodies();
    return [...acked].every((id) => ok.has(id) || inDlq.has(id));
  });
  const ok = succeeded();
  const tries = new Map<string, Consumed[]>();
  for (const c of retried) {
    if (!tries.has(c.b)) tries.set(c.b, []);
    tries.get(c.b)!.push(c);
  }
  const badDlq: string[] = [];
  const early: string[] = [];
  let retriedCount = 0;
  for (const id of acked) {
    const list = tries.get(id) ?? [];
    if (list.some((c) => c.r > 0)) retriedCount++;
    if (!ok.has(id)) {
      // Dead-lettered: tried and failed exactly with reconsume times 0..MAX_RECONSUME.
      const failedTries = new Set(list.filter((c) => c.f === 1).map((c) => c.r));
      if (!inDlq.has(id) || [...failedTries].sort().join(',') !== Array.from({ length: MAX_RECONSUME + 1 }, (_, i) => i).join(',')) badDlq.push(`${id}: tries ${[...failedTries].join(',')}`);
    }
    for (let r = 1; r <= MAX_RECONSUME; r++) {
      const next = list.find((c) => c.r === r);
      if (next === undefined) continue;
      // Against the earliest failed try before it: with repeats (a replay after a rebalance) a
      // later failure of the same try may have its own retry still waiting.
      const firstFail = list.find((c) => c.r === r - 1 && c.f === 1);
      if (firstFail !== undefined && next.t - firstFail.t < (3 + r - 1) * 100) early.push(`${id}: try ${r} ${next.t - firstFail.t} ms after the failure`);
    }
  }
  const poisoned = [...acked].filter((id) => Number(id.slice(1)) % 100 === 0);
  t.comment(`failing group: ${retriedCount} messages retried, ${inDlq.size} dead-lettered (${poisoned.length} poison)`);
  t.ok(retriedCount > 50, 'messages were retried through the retry topic');
  t.ok(poisoned.length > 0 && poisoned.every((id) => inDlq.has(id)), 'every poison message is in the DLQ');
  t.same(badDlq.slice(0, 5), [], 'a message not consumed is in the DLQ after exactly maxReconsumeTimes + 1 failed tries');
  t.same(early.slice(0, 5), [], 'no retry before its delay level');

  for (const m of [...members, ...orderly, ...retriers]) if (!m.exited) m.proc.kill('SIGTERM');
  await until('the members exit', 20_000, () => [...members, ...orderly, ...retriers].every((m) => m.exited));
});
