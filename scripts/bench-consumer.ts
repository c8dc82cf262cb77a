// npm run bench:consumer: what a consumer group of push consumers achieves on a local group of 3.
//
// backlog:   a backlog of --backlog messages (--body bytes) over 8 queues, then a group of 3
//            members (in this process) consumes it from the first offset; msgs/s from the first
//            message to the last. Once with the brokers' slaveReadEnable off (every pull to the
//            master) and once on (the master suggests a slave while the consumer is far behind).
// latency:   a producer paced at --rate msgs/s for --seconds; 3 members; the time from send to
//            handler start (the send time travels in the body; one process, one clock), p50/p99
//            after the first second.
// rebalance: 3 members, each its own process (scripts/bench/push-member.ts); SIGKILL one (or
//            SIGSTOP: its connection stays open, the master drops it after missed heartbeats)
//            and time until the survivors' queues cover every queue again (from their rebalance
//            events); a new member replaces it; --kills times.
// One JSON line per part on stdout; progress on stderr.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Admin, Producer, PushConsumer } from '../src/client/index.ts';
import { LocalCluster, parseFlagsOrHelp, type CommandSpec } from '../src/cli/index.ts';

const SPEC: CommandSpec = {
  usage: 'npm run bench:consumer -- [--part backlog|latency|rebalance|all] [--backlog N] [--body BYTES] [--rate N] [--seconds S] [--kills N]',
  summary: 'Consume throughput from a backlog (master and slave reads), end-to-end latency at a steady rate, and rebalance time after a member is SIGKILLed.',
  flags: [
    { name: 'part', kind: 'string', help: 'which measurement', default: 'all', choices: ['backlog', 'latency', 'rebalance', 'all'] },
    { name: 'backlog', kind: 'int', help: 'messages in the backlog', default: 10_000_000, min: 1000 },
    { name: 'body', kind: 'int', help: 'body bytes', default: 128, min: 1, max: 1 << 20 },
    { name: 'rate', kind: 'int', help: 'latency part: messages per second', default: 20_000, min: 1 },
    { name: 'seconds', kind: 'int', help: 'latency part: duration', default: 20, min: 2 },
    { name: 'kills', kind: 'int', help: 'rebalance part: members killed', default: 10, min: 1, max: 100 },
    { name: 'signal', kind: 'string', help: 'rebalance part: SIGKILL (the connection closes) or SIGSTOP (found by the missed heartbeats)', default: 'SIGKILL', choices: ['SIGKILL', 'SIGSTOP'] },
  ],
};

const flags = parseFlagsOrHelp(SPEC, process.argv.slice(2));
if (flags === null) process.exit(0);
const part = String(flags.part);
const log = (msg: string): void => void process.stderr.write(`${msg}\n`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const QUEUES = 8;
const MEMBERS = 3;

/** The q-th percentile (0..100) of sorted values (nearest rank). */
function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((q / 100) * sorted.length) - 1))]!;
}

async function until(what: string, timeoutMs: number, probe: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await sleep(20);
  }
}

async function withCluster<T>(extra: Record<string, string>, fn: (cluster: LocalCluster) => Promise<T>): Promise<T> {
  const cluster = await LocalCluster.create({ nodes: 3, extra: { mappedFileSizeCommitLog: String(256 * 1024 * 1024), ...extra } });
  try {
    await cluster.waitForMaster(20_000);
    return await fn(cluster);
  } finally {
    await cluster.destroy();
  }
}

async function createTopic(cluster: LocalCluster, topic: string): Promise<void> {
  const admin = new Admin({ servers: cluster.servers });
  try {
    await admin.createTopic(topic, QUEUES);
  } finally {
    await admin.close();
  }
}

/** Sends `count` messages with 256 loops; logs progress. */
async function fill(producer: Producer, topic: string, count: number, body: Buffer): Promise<void> {
  let next = 0;
  let acked = 0;
  const started = performance.now();
  const ticker = setInterval(() => log(`backlog: ${acked.toLocaleString('en-US')} of ${count.toLocaleString('en-US')} stored (${Math.round(acked / ((performance.now() - started) / 1000))} msgs/s)`), 5000);
  const loop = async (): Promise<void> => {
    while (next < count) {
      next++;
      await producer.send(topic, { body });
      acked++;
    }
  };
  try {
    await Promise.all(Array.from({ length: 256 }, loop));
  } finally {
    clearInterval(ticker);
  }
}

/** Members in this process consume `count` messages of `topic` from the first offset; msgs/s. */
async function drain(servers: string[], group: string, topic: string, count: number): Promise<{ msgsPerSec: number; seconds: number }> {
  let consumed = 0;
  let first = 0;
  let last = 0;
  const members = Array.from({ length: MEMBERS }, () => {
    const c = new PushConsumer({ group, servers, consumeFrom: 'first', pullBatchSize: 32, consumeMessageBatchMaxSize: 32 });
    c.subscribe(topic);
    c.registerMessageListener((msgs) => {
      if (first === 0) first = performance.now();
      consumed += msgs.length;
      last = performance.now();
      return 'CONSUME_SUCCESS';
    });
    return c;
  });
  const ticker = setInterval(() => log(`drain ${group}: ${consumed.toLocaleString('en-US')} of ${count.toLocaleString('en-US')}`), 5000);
  try {
    await Promise.all(members.map((m) => m.start()));
    await until(`${group} consumed ${count}`, 3_600_000, () => consumed >= count);
  } finally {
    clearInterval(ticker);
    await Promise.all(members.map((m) => m.shutdown()));
  }
  const seconds = (last - first) / 1000;
  return { msgsPerSec: Math.round(consumed / seconds), seconds: Math.round(seconds * 10) / 10 };
}

async function backlogPart(): Promise<void> {
  const count = Number(flags!.backlog);
  const body = Buffer.alloc(Number(flags!.body), 'b');
  const result: Record<string, unknown> = { part: 'backlog', messages: count, bodyBytes: body.length };
  for (const slaveRead of [false, true]) {
    await withCluster({ slaveReadEnable: String(slaveRead) }, async (cluster) => {
      await createTopic(cluster, 'backlog');
      const producer = new Producer({ servers: cluster.servers });
      try {
        await fill(producer, 'backlog', count, body);
      } finally {
        await producer.close();
      }
      log(`backlog stored; consuming with slaveReadEnable=${slaveRead}`);
      result[slaveRead ? 'slaveReadEnable' : 'masterOnly'] = await drain(cluster.servers, `drain-${slaveRead ? 'slave' : 'master'}`, 'backlog', count);
    });
  }
  console.log(JSON.stringify(result));
}

async function latencyPart(): Promise<void> {
  const rate = Number(flags!.rate);
  const seconds = Number(flags!.seconds);
  await withCluster({}, async (cluster) => {
    await createTopic(cluster, 'latency');
    const latencies: number[] = [];
    let measureFrom = Infinity;
    const members = Array.from({ length: MEMBERS }, () => {
      const c = new PushConsumer({ group: 'latency', servers: cluster.servers, consumeFrom: 'last' });
      c.subscribe('latency');
      c.registerMessageListener((msgs) => {
        const now = performance.now();
        for (const m of msgs) {
          const sentAt = Number(Buffer.from(m.body).toString());
          if (sentAt >= measureFrom) latencies.push(now - sentAt);
        }
        return 'CONSUME_SUCCESS';
      });
      return c;
    });
    await Promise.all(members.map((m) => m.start()));
    await until('every queue allocated', 30_000, () => members.reduce((n, m) => n + m.allocatedQueues().filter((q) => q.topic === 'latency').length, 0) === QUEUES);
    const producer = new Producer({ servers: cluster.servers });
    const started = performance.now();
    measureFrom = started + 1000;
    let sent = 0;
    let failed = 0;
    const inflight = new Set<Promise<void>>();
    // Paced: every 10 ms, send what the rate owes since the start.
    while (performance.now() - started < seconds * 1000) {
      const owed = Math.floor(((performance.now() - started) / 1000) * rate) - sent;
      for (let i = 0; i < owed && inflight.size < 20_000; i++) {
        sent++;
        const p: Promise<void> = producer.send('latency', { body: Buffer.from(String(performance.now())) }).then(
          () => void inflight.delete(p),
          () => {
            failed++;
            inflight.delete(p);
          },
        );
        inflight.add(p);
      }
      await sleep(10);
    }
    await Promise.all(inflight);
    await sleep(2000);
    await producer.close();
    await Promise.all(members.map((m) => m.shutdown()));
    latencies.sort((a, b) => a - b);
    const ms = (v: number): number => Math.round(v * 10) / 10;
    console.log(JSON.stringify({ part: 'latency', rate, seconds, sent, failed, measured: latencies.length, p50Ms: ms(percentile(latencies, 50)), p99Ms: ms(percentile(latencies, 99)), maxMs: ms(latencies.at(-1) ?? 0) }));
  });
}

interface Member {
  readonly proc: ChildProcess;
  queues: string[];
  lastRebalance: number;
  ready: boolean;
}

function startMember(servers: string[], id: string): Member {
  const script = path.join(path.dirname(fileURLToPath(import.meta.url)), 'bench', 'push-member.ts');
  const proc = spawn(process.execPath, ['--import', 'tsx', script, '--servers', servers.join(','), '--group', 'rebalance', '--topic', 'rebalance', '--client-id', id], { stdio: ['ignore', 'pipe', 'inherit'] });
  const member: Member = { proc, queues: [], lastRebalance: 0, ready: false };
  readline.createInterface({ input: proc.stdout! }).on('line', (line) => {
    const ev = JSON.parse(line) as { ev: string; t: number; queues?: string[] };
    if (ev.ev === 'ready') member.ready = true;
    if (ev.ev === 'rebalance') {
      member.queues = ev.queues!;
      member.lastRebalance = ev.t;
    }
  });
  return member;
}

/** Every queue owned by exactly one of `members`. */
function covered(members: readonly Member[]): boolean {
  const owned = members.flatMap((m) => m.queues);
  return owned.length === QUEUES && new Set(owned).size === QUEUES;
}

async function rebalancePart(): Promise<void> {
  const kills = Number(flags!.kills);
  const signal = String(flags!.signal) as 'SIGKILL' | 'SIGSTOP';
  await withCluster({}, async (cluster) => {
    await createTopic(cluster, 'rebalance');
    let members = Array.from({ length: MEMBERS }, (_, i) => startMember(cluster.servers, `m${i}`));
    const times: number[] = [];
    try {
      await until('3 members share the queues', 60_000, () => members.every((m) => m.ready && m.queues.length > 0) && covered(members));
      for (let k = 0; k < kills; k++) {
        const victim = members[k % members.length]!;
        const survivors = members.filter((m) => m !== victim);
        const killedAt = Date.now();
        victim.proc.kill(signal);
        await until('the survivors cover every queue', 60_000, () => covered(survivors) && survivors.every((m) => m.lastRebalance >= killedAt));
        const took = Math.max(...survivors.map((m) => m.lastRebalance)) - killedAt;
        times.push(took);
        log(`kill ${k + 1}: the survivors took every queue in ${took} ms`);
        if (signal === 'SIGSTOP') victim.proc.kill('SIGKILL');
        const fresh = startMember(cluster.servers, `m${MEMBERS + k}`);
        members = [...survivors, fresh];
        await until('the new member has its share', 60_000, () => fresh.ready && fresh.queues.length > 0 && covered(members));
      }
    } finally {
      for (const m of members) m.proc.kill('SIGTERM');
      await sleep(500);
    }
    const sorted = [...times].sort((a, b) => a - b);
    console.log(JSON.stringify({ part: 'rebalance', signal, kills, ms: times, p50Ms: percentile(sorted, 50), maxMs: sorted.at(-1) }));
  });
}

if (part === 'backlog' || part === 'all') await backlogPart();
if (part === 'latency' || part === 'all') await latencyPart();
if (part === 'rebalance' || part === 'all') await rebalancePart();
