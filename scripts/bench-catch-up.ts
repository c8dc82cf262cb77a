// npm run bench:catch-up: how fast a replica far behind catches up, and what it costs the live
// writes meanwhile. A local group of 3 is filled with --gib of messages; one slave is then
// either wiped (--from empty: it restarts with an empty store) or was stopped halfway through
// the fill (--from prefix: it restarts with the first half); or a new replica joins
// (--from member-add: `member add` as a learner, promoted once caught up). While it catches up, a probe
// producer writes at a steady rate and its latencies are recorded. Prints one JSON line:
//   {"from","gib","bytesBehind","catchUpMs","mbPerSec","probe":{"before":{p50,p99},"during":{p50,p99}},"probeFailed"}
import os from 'node:os';
import path from 'node:path';
import { Admin, Producer } from '../src/client/index.ts';
import { LocalCluster, parseFlagsOrHelp, type CommandSpec } from '../src/cli/index.ts';
import type { NodeStatus } from '../src/protocol/index.ts';
import { brokerConfFrom } from './bench/broker-conf.ts';
import { Histogram } from './bench/histogram.ts';
import { storeUsage } from './bench/store-size.ts';

/** Log bytes of a replica's store on disk. */
const logBytes = (dir: string): number => storeUsage(path.join(dir, 'commitlog', 'data'), [])?.bytes ?? 0;
const round2 = (x: number): number => Math.round(x * 100) / 100;

const SPEC: CommandSpec = {
  usage: 'npm run bench:catch-up -- [--from empty|prefix] [--gib G] [--probe-rate N] [--size BYTES] [--set KEY=VALUE,...]',
  summary:
    'Fills a fresh local group of 3 (temp dir, 127.0.0.1) with G GiB, restarts one slave that is\n' +
    'behind (wiped, or stopped halfway through the fill), and measures how long it takes to apply\n' +
    'what the master had committed at its restart, while a probe producer writes N msgs/s and\n' +
    'records each send\'s latency. Progress on stderr; one JSON line on stdout.',
  flags: [
    {
      name: 'from',
      kind: 'string',
      help: 'empty: the slave restarts wiped; prefix: it restarts with the first half of the log; member-add: a fourth replica is added (learner, then promoted: the time is to promotion)',
      default: 'empty',
      choices: ['empty', 'prefix', 'member-add'],
    },
    { name: 'gib', kind: 'string', help: 'GiB the group is filled with before the catch-up (default 2)', default: '2' },
    { name: 'probe-rate', kind: 'int', help: 'messages per second the probe writes during the catch-up', default: 1000, min: 1, max: 100_000 },
    { name: 'size', kind: 'int', help: 'body bytes of the fill and probe messages', default: 1024, min: 16, max: 1024 * 1024 },
    { name: 'set', kind: 'string', help: 'broker.conf keys for every replica, KEY=VALUE[,KEY=VALUE...] (e.g. peerPushThrottlePoint=1)' },
    {
      name: 'nice',
      kind: 'int',
      help: 'scheduling priority (nice, 0..19) of the replica that catches up: on one machine it competes with the live replicas for the cores, which separate machines would not',
      default: 0,
      min: 0,
      max: 19,
    },
  ],
};

const TOPIC = 'catch-up';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function fill(producer: Producer, bytes: number, size: number, label: string): Promise<void> {
  const body = Buffer.alloc(size, 'f');
  const count = Math.ceil(bytes / size);
  let next = 0;
  let done = 0;
  const t0 = Date.now();
  const timer = setInterval(() => process.stderr.write(`${label}: ${((done * size) / 2 ** 30).toFixed(2)} GiB of ${(bytes / 2 ** 30).toFixed(2)}\n`), 5000);
  try {
    await Promise.all(
      Array.from({ length: 256 }, async () => {
        while (next < count) {
          next++;
          await producer.send(TOPIC, { body });
          done++;
        }
      }),
    );
  } finally {
    clearInterval(timer);
  }
  process.stderr.write(`${label}: ${(bytes / 2 ** 30).toFixed(2)} GiB in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
}

/** Sends `rate` messages a second until stopped; records each latency with its start time. */
class Probe {
  readonly samples: { atMs: number; ms: number }[] = [];
  failed = 0;
  private stopped = false;
  private readonly done: Promise<void>;

  constructor(producer: Producer, rate: number, size: number) {
    const body = Buffer.alloc(size, 'p');
    this.done = (async () => {
      const t0 = performance.now();
      const inflight = new Set<Promise<void>>();
      for (let i = 0; !this.stopped; i++) {
        const due = t0 + (i * 1000) / rate;
        const wait = due - performance.now();
        if (wait > 1) await sleep(wait);
        const atMs = Date.now();
        const start = performance.now();
        const p = producer.send(TOPIC, { body }).then(
          () => void this.samples.push({ atMs, ms: performance.now() - start }),
          () => void this.failed++,
        );
        inflight.add(p);
        void p.finally(() => inflight.delete(p));
        if (inflight.size > 10_000) await Promise.race(inflight);
      }
      await Promise.all(inflight);
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
  }

  /** Percentiles as the bench reports them (its Histogram, nearest rank). */
  between(fromMs: number, toMs: number): { p50: number; p99: number; n: number } {
    const h = new Histogram();
    for (const s of this.samples) if (s.atMs >= fromMs && s.atMs < toMs) h.record(s.ms);
    return { p50: round2(h.percentile(0.5)), p99: round2(h.percentile(0.99)), n: h.count };
  }
}

async function statusOf(cluster: LocalCluster, id: string): Promise<NodeStatus | null> {
  return (await cluster.statuses())[cluster.nodes.findIndex((n) => n.id === id)] ?? null;
}

async function main(): Promise<number> {
  const flags = parseFlagsOrHelp(SPEC, process.argv.slice(2));
  if (flags === null) return 0;
  const from = String(flags.from);
  const gib = Number(flags.gib);
  if (!(gib > 0 && gib <= 64)) throw new Error(`--gib must be in (0, 64], got ${String(flags.gib)}`);
  const size = Number(flags.size);
  const bytes = gib * 2 ** 30;
  const cluster = await LocalCluster.create({ nodes: 3, extra: { mappedFileSizeCommitLog: String(256 * 1024 * 1024), ...brokerConfFrom(flags.set) } });
  const producer = new Producer({ servers: cluster.servers, sendTimeoutMs: 30_000 });
  try {
    const master = await cluster.waitForMaster(20_000);
    const victim = cluster.nodes.find((n) => n.id !== master.nodeId)!;
    if (from === 'member-add') {
      await fill(producer, bytes, size, 'fill');
    } else if (from === 'prefix') {
      await fill(producer, bytes / 2, size, 'fill (first half)');
      await cluster.kill(victim.id);
      await fill(producer, bytes / 2, size, 'fill (second half, the slave stopped)');
    } else {
      await fill(producer, bytes, size, 'fill');
      await cluster.kill(victim.id);
      cluster.wipe(victim.id);
    }
    const masterNow = await cluster.waitForMaster(20_000);
    const masterDir = cluster.nodes.find((n) => n.id === masterNow.nodeId)!.dir;
    const bytesBehind = logBytes(masterDir) - (from === 'prefix' ? logBytes(victim.dir) : 0);
    if (from === 'member-add') return await memberAdd(cluster, producer, Number(flags['probe-rate']), size, { gib, bytesBehind, set: flags.set ?? '', nice: Number(flags.nice) });
    const probe = new Probe(producer, Number(flags['probe-rate']), size);
    // The "before" window starts after the probe's first second (its connection and route).
    await sleep(4000);
    const target = (await statusOf(cluster, masterNow.nodeId))!.commitIndex;
    const restartedAt = Date.now();
    const proc = cluster.start(victim.id);
    if (Number(flags.nice) > 0 && proc.pid !== undefined) os.setPriority(proc.pid, Number(flags.nice));
    let caughtUpAt = 0;
    while (caughtUpAt === 0) {
      await sleep(50);
      const st = await statusOf(cluster, victim.id).catch(() => null);
      if (st !== null && st.appliedIndex >= target) caughtUpAt = Date.now();
      if (Date.now() - restartedAt > 30 * 60_000) throw new Error('no catch-up within 30 minutes');
    }
    await sleep(1000);
    await probe.stop();
    const catchUpMs = caughtUpAt - restartedAt;
    const out = {
      from,
      set: flags.set ?? '',
      nice: Number(flags.nice),
      gib,
      bytesBehind,
      catchUpMs,
      mbPerSec: Math.round((bytesBehind / 1e6 / (catchUpMs / 1000)) * 10) / 10,
      probe: { before: probe.between(restartedAt - 3000, restartedAt), during: probe.between(restartedAt, caughtUpAt) },
      probeFailed: probe.failed,
    };
    process.stdout.write(`${JSON.stringify(out)}\n`);
    return probe.failed > 0 ? 1 : 0;
  } finally {
    await producer.close();
    await cluster.destroy();
  }
}

/** --from member-add: adds n3 (learner, promoted once caught up) while the probe writes. */
async function memberAdd(cluster: LocalCluster, producer: Producer, rate: number, size: number, info: { gib: number; bytesBehind: number; set: unknown; nice: number }): Promise<number> {
  const probe = new Probe(producer, rate, size);
  await sleep(4000);
  const admin = new Admin({ servers: cluster.servers, timeoutMs: 30_000 });
  try {
    const node = await cluster.addNode('n3');
    if (info.nice > 0 && node.proc?.pid !== undefined) os.setPriority(node.proc.pid, info.nice);
    const addedAt = Date.now();
    let lastNote = 0;
    await admin.addMember('n3', node.peerAddr, node.clientAddr, {
      timeoutMs: 30 * 60_000,
      onProgress: ({ lag }) => {
        if (Date.now() - lastNote < 5000) return;
        lastNote = Date.now();
        process.stderr.write(`n3 catching up: ${lag} entries behind\n`);
      },
    });
    const promotedAt = Date.now();
    await sleep(1000);
    await probe.stop();
    const ms = promotedAt - addedAt;
    const out = {
      from: 'member-add',
      set: info.set,
      nice: info.nice,
      gib: info.gib,
      bytesBehind: info.bytesBehind,
      addToPromotedMs: ms,
      mbPerSec: Math.round((info.bytesBehind / 1e6 / (ms / 1000)) * 10) / 10,
      probe: { before: probe.between(addedAt - 3000, addedAt), during: probe.between(addedAt, promotedAt) },
      probeFailed: probe.failed,
    };
    process.stdout.write(`${JSON.stringify(out)}\n`);
    return probe.failed > 0 ? 1 : 0;
  } finally {
    await admin.close();
  }
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`bench:catch-up: ${err.message}\n`);
    process.exit(1);
  },
);
