// npm run bench:failover: the longest pause of acknowledged sends when a master fails.
//
// One group (default): a local group of 3 (temp dir, 127.0.0.1) takes a steady load from
// producers (unkeyed sends, each loop awaiting its send); every few seconds the master gets
// SIGSTOP (or SIGKILL), and the pause is the longest gap between two acknowledgements around the
// fault. Faults alternate between the idempotent producer (which re-sends a stalled send to the
// new master the moment one is known) and one without idempotence (which waits for its try's
// timeout). One JSON line: {"signal","faults","idempotent":{"pausesMs","p50","max","failed"},"plain":{...}}
//
// --groups 2: two groups of 3 behind a NameServer, a topic over both, an idempotent producer
// with unkeyed loops and loops keyed to group A's queues; each fault hits A's master. Per fault:
// the time from the fault until a keyed send for A succeeds again (A's failover as its queues
// see it) and the longest pause of unkeyed sends (they move to B). One JSON line:
// {"groups":2,"signal","faults","groupResumeMs":{"values","p50","max"},"unkeyedPauseMs":{...},"failed"}
import { ClusterAdmin, Producer, keyHash } from '../src/client/index.ts';
import { LocalCluster, LocalClusterSet, parseFlagsOrHelp, type CommandSpec } from '../src/cli/index.ts';

const SPEC: CommandSpec = {
  usage: 'npm run bench:failover -- [--groups 1|2] [--faults N] [--signal SIGSTOP|SIGKILL] [--loops N]',
  summary:
    'One group: the longest pause of acknowledged sends after a master fails, for the idempotent\n' +
    'producer and for one without idempotence, alternating faults between the two on a local group of 3.\n' +
    'Two groups: how long sends for the failed group\'s queues stop, and the longest pause of unkeyed sends.',
  flags: [
    { name: 'groups', kind: 'int', help: 'broker groups of 3', default: 1, min: 1, max: 2 },
    { name: 'faults', kind: 'int', help: 'faults per producer kind', default: 5, min: 1, max: 100 },
    { name: 'signal', kind: 'string', help: 'how the master fails', default: 'SIGSTOP', choices: ['SIGSTOP', 'SIGKILL'] },
    { name: 'loops', kind: 'int', help: 'concurrent send loops', default: 16, min: 1, max: 1024 },
  ],
};

const flags = parseFlagsOrHelp(SPEC, process.argv.slice(2));
if (flags === null) process.exit(0);
const faults = Number(flags.faults);
const signal = String(flags.signal) as 'SIGSTOP' | 'SIGKILL';
const loops = Number(flags.loops);
const groups = Number(flags.groups);
const log = (msg: string): void => void process.stderr.write(`${msg}\n`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Kind {
  readonly name: 'idempotent' | 'plain';
  readonly pauses: number[];
  failed: number;
}

/** Runs `loops` send loops until `stop`; returns the ack times (ms, performance.now()). */
function load(producer: Producer, kind: Kind, stop: { done: boolean }): { acks: number[]; finished: Promise<void> } {
  const acks: number[] = [];
  const body = Buffer.alloc(256, 1);
  const loop = async () => {
    while (!stop.done) {
      try {
        await producer.send('failover', { body });
        acks.push(performance.now());
      } catch {
        kind.failed++;
      }
    }
  };
  return { acks, finished: Promise.all(Array.from({ length: loops }, loop)).then(() => undefined) };
}

/** Waits until every replica of the group answers and is within a few entries of the master (a
 *  restarted replica takes a second or two to start): a fault on a group still missing one
 *  replica measures a group without a spare quorum, not a failover. */
async function healthy(group: LocalCluster): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const all = await group.statuses();
    const up = all.filter((s) => s !== null);
    const master = up.find((s) => s!.role === 'MASTER');
    if (up.length === all.length && master && up.every((s) => !s!.recovering && master.commitIndex - s!.appliedIndex < 1000)) {
      await sleep(500);
      return;
    }
    await sleep(100);
  }
  throw new Error('the group did not become healthy within 30 s');
}

function longestGap(acks: readonly number[], from: number, to: number): number {
  const window = acks.filter((t) => t >= from && t <= to).sort((a, b) => a - b);
  let gap = 0;
  let prev = from;
  for (const t of window) {
    gap = Math.max(gap, t - prev);
    prev = t;
  }
  return Math.max(gap, to - prev);
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

if (groups === 2) {
  await twoGroups();
  process.exit(0);
}

const cluster = await LocalCluster.create({ nodes: 3 });
const kinds: Kind[] = [
  { name: 'idempotent', pauses: [], failed: 0 },
  { name: 'plain', pauses: [], failed: 0 },
];
try {
  await cluster.waitForMaster();
  for (let i = 0; i < faults * 2; i++) {
    const kind = kinds[i % 2]!;
    const producer = new Producer({ servers: cluster.servers, idempotence: kind.name === 'idempotent' });
    const stop = { done: false };
    const { acks, finished } = load(producer, kind, stop);
    await sleep(1500);
    const master = await cluster.waitForMaster();
    const t0 = performance.now();
    if (signal === 'SIGSTOP') cluster.signal(master.nodeId, 'SIGSTOP');
    else await cluster.kill(master.nodeId);
    await cluster.waitForMaster(10_000, master.nodeId);
    await sleep(2500);
    const pause = longestGap(acks, t0, performance.now() - 500);
    kind.pauses.push(Math.round(pause));
    log(`${kind.name} fault ${kind.pauses.length}: longest pause ${Math.round(pause)} ms (${acks.length} acks)`);
    stop.done = true;
    await finished;
    await producer.close();
    if (signal === 'SIGSTOP') cluster.signal(master.nodeId, 'SIGCONT');
    else cluster.start(master.nodeId);
    await healthy(cluster);
  }
} finally {
  await cluster.destroy();
}
const summary = (k: Kind) => ({ pausesMs: k.pauses, p50: median(k.pauses), max: Math.max(...k.pauses), failed: k.failed });
console.log(JSON.stringify({ signal, faults, loops, idempotent: summary(kinds[0]!), plain: summary(kinds[1]!) }));

/** The two-group measurement (see the head comment). */
async function twoGroups(): Promise<void> {
  const set = await LocalClusterSet.create({ groups: 2, nodes: 3, extra: { registerNameServerPeriod: '2000' } });
  const namesrv = set.namesrvs.map((n) => n.addr);
  const resumes: number[] = [];
  const pauses: number[] = [];
  let failed = 0;
  try {
    await set.waitForMasters();
    const admin = new ClusterAdmin({ namesrv });
    for (;;) {
      if ((await admin.groups()).length === 2) break;
      await sleep(100);
    }
    const queues = 4;
    await admin.updateTopic('failover', queues);
    await admin.close();
    await sleep(500);
    let keyA = 'a';
    for (let i = 0; keyHash(keyA) % (2 * queues) >= queues; i++) keyA = `a${i}`;
    const producer = new Producer({ namesrv, sendTimeoutMs: 10_000 });
    const body = Buffer.alloc(256, 1);
    const unkeyedAcks: number[] = [];
    const keyedAcks: number[] = [];
    const stop = { done: false };
    const loop = async (keys: string | undefined, acks: number[]) => {
      while (!stop.done) {
        try {
          await producer.send('failover', keys === undefined ? { body } : { body, keys });
          acks.push(performance.now());
        } catch {
          failed++;
        }
      }
    };
    const running = [...Array.from({ length: loops }, () => loop(undefined, unkeyedAcks)), loop(keyA, keyedAcks), loop(keyA, keyedAcks)];
    const groupA = set.group('broker-a');
    await sleep(1500);
    for (let f = 0; f < faults; f++) {
      const master = await groupA.waitForMaster();
      const t0 = performance.now();
      if (signal === 'SIGSTOP') groupA.signal(master.nodeId, 'SIGSTOP');
      else await groupA.kill(master.nodeId);
      await groupA.waitForMaster(10_000, master.nodeId);
      const electedMs = Math.round(performance.now() - t0);
      while (!keyedAcks.some((t) => t > t0) && performance.now() - t0 < 15_000) await sleep(20);
      await sleep(1500);
      const resume = (keyedAcks.find((t) => t > t0) ?? performance.now()) - t0;
      const pause = longestGap(unkeyedAcks, t0, performance.now() - 500);
      resumes.push(Math.round(resume));
      pauses.push(Math.round(pause));
      log(`fault ${f + 1}: broker-a's queues took sends again after ${Math.round(resume)} ms; longest unkeyed pause ${Math.round(pause)} ms (a new master answered status after ${electedMs} ms)`);
      if (signal === 'SIGSTOP') groupA.signal(master.nodeId, 'SIGCONT');
      else groupA.start(master.nodeId);
      await healthy(groupA);
    }
    stop.done = true;
    await Promise.all(running);
    await producer.close();
  } finally {
    await set.destroy();
  }
  const stats = (xs: number[]) => ({ values: xs, p50: median(xs), max: Math.max(...xs) });
  console.log(JSON.stringify({ groups: 2, signal, faults, loops, groupResumeMs: stats(resumes), unkeyedPauseMs: stats(pauses), failed }));
}
