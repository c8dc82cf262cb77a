// npm run bench:core: throughput of the Raft core alone. A 3-node cluster in one process with
// no I/O: instant persistence into MemoryStorage, a perfect in-order network, no checkers.
//  - entries/s: the leader takes batches of 64 entries of 1 KiB (one shared body: the core must
//    not copy bodies) as fast as the pipeline allows; counted when the leader hands them out
//    committed.
//  - proposals/s: one entry at a time, each committed on the leader before the next.
// Several runs, median reported. Progress on stderr; the last stdout line is
//   {"entriesPerSec":N,"proposalsPerSec":N,"batch":64}
// Profile: node --cpu-prof --import tsx scripts/bench-core.ts

import { MemoryStorage, RaftNode, type Message, type NodeId, DEFAULT_RAFT_CONFIG, Role } from '../src/raft/index.ts';

const BATCH = 64;
const BODY = Buffer.alloc(1024, 7);
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const BATCHES_PER_RUN = Number(process.env.BENCH_BATCHES ?? 5000);
const SINGLES_PER_RUN = Number(process.env.BENCH_SINGLES ?? 20000);
/** Entries kept in MemoryStorage behind the commit index (compacted beyond, to bound memory). */
const KEEP_ENTRIES = 4096;

interface BenchNode {
  readonly id: NodeId;
  readonly core: RaftNode;
  readonly storage: MemoryStorage;
  committed: number;
}

class BenchCluster {
  readonly nodes: BenchNode[] = [];
  private readonly byId = new Map<NodeId, BenchNode>();
  private queue: Message[] = [];

  constructor() {
    const ids = ['n0', 'n1', 'n2'];
    for (let i = 0; i < ids.length; i++) {
      const storage = new MemoryStorage();
      const core = new RaftNode({ ...DEFAULT_RAFT_CONFIG, id: ids[i], peers: ids, seed: 1000 + i }, storage);
      const n = { id: ids[i], core, storage, committed: 0 };
      this.nodes.push(n);
      this.byId.set(n.id, n);
    }
  }

  get leader(): BenchNode {
    return this.nodes[0];
  }

  /** Handles every pending Ready (persist instantly, queue messages, "apply"). */
  handleReadies(): boolean {
    let any = false;
    for (const n of this.nodes) {
      while (n.core.hasReady()) {
        any = true;
        const rd = n.core.ready();
        if (rd.hardState) n.storage.setHardState(rd.hardState);
        if (rd.entries.length) n.storage.append(rd.entries);
        for (const m of rd.messages) this.queue.push(m);
        for (const m of rd.persistedMessages) this.queue.push(m);
        const ce = rd.committedEntries;
        if (ce.length) n.committed = ce[ce.length - 1].index;
        n.core.advance(rd);
      }
    }
    return any;
  }

  /** Delivers every queued message once (in order). */
  deliver(): boolean {
    if (this.queue.length === 0) return false;
    const q = this.queue;
    this.queue = [];
    for (const m of q) this.byId.get(m.to)!.core.step(m);
    return true;
  }

  settle(): void {
    for (let k = 0; k < 1000; k++) {
      const a = this.handleReadies();
      const b = this.deliver();
      if (!a && !b) return;
    }
  }

  elect(): void {
    for (let t = 0; t < 1000 && this.leader.core.status().role !== Role.Leader; t++) {
      this.leader.core.tick();
      this.settle();
    }
    if (this.leader.core.status().role !== Role.Leader) throw new Error('bench: n0 did not become leader');
    this.settle();
  }

  compact(): void {
    for (const n of this.nodes) {
      const upTo = n.committed - KEEP_ENTRIES;
      if (upTo > n.storage.firstIndex() + KEEP_ENTRIES) n.storage.compact(upTo);
    }
  }
}

function batchRun(): number {
  const c = new BenchCluster();
  c.elect();
  const leader = c.leader;
  const bodies: Uint8Array[] = new Array(BATCH).fill(BODY);
  const start0 = leader.committed;
  let last = 0;
  const t0 = process.hrtime.bigint();
  for (let b = 0; b < BATCHES_PER_RUN; b++) {
    const r = leader.core.propose(bodies);
    if (!r.ok) throw new Error(`bench: proposal refused: ${r.code}`);
    last = r.lastIndex;
    // One turn of every loop per batch: the pipeline keeps several batches in flight.
    c.handleReadies();
    c.deliver();
    if ((b & 255) === 255) c.compact();
  }
  for (let k = 0; k < 1000 && leader.committed < last; k++) {
    c.handleReadies();
    c.deliver();
  }
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  if (leader.committed < last) throw new Error(`bench: only ${leader.committed} of ${last} committed`);
  for (const n of c.nodes) {
    const e = n.storage.entries(last, last + 1, Infinity)[0];
    if (e.data !== BODY) throw new Error(`bench: ${n.id} holds a copy of the body, not the proposed Buffer`);
  }
  return (leader.committed - start0) / secs;
}

function singleRun(): number {
  const c = new BenchCluster();
  c.elect();
  const leader = c.leader;
  const body = [BODY];
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < SINGLES_PER_RUN; i++) {
    const r = leader.core.propose(body);
    if (!r.ok) throw new Error(`bench: proposal refused: ${r.code}`);
    for (let k = 0; k < 100 && leader.committed < r.lastIndex; k++) {
      c.handleReadies();
      c.deliver();
    }
    if (leader.committed < r.lastIndex) throw new Error(`bench: entry ${r.lastIndex} did not commit`);
    if ((i & 1023) === 1023) c.compact();
  }
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  return SINGLES_PER_RUN / secs;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function main(): void {
  const entryRates: number[] = [];
  const proposalRates: number[] = [];
  batchRun(); // warm-up (JIT)
  for (let r = 0; r < RUNS; r++) {
    const e = batchRun();
    entryRates.push(e);
    process.stderr.write(`bench:core run ${r + 1}/${RUNS}: ${Math.round(e).toLocaleString('en')} entries/s (batches of ${BATCH} x 1 KiB)\n`);
  }
  singleRun();
  for (let r = 0; r < RUNS; r++) {
    const p = singleRun();
    proposalRates.push(p);
    process.stderr.write(`bench:core run ${r + 1}/${RUNS}: ${Math.round(p).toLocaleString('en')} single-entry proposals/s\n`);
  }
  process.stdout.write(`${JSON.stringify({ entriesPerSec: Math.round(median(entryRates)), proposalsPerSec: Math.round(median(proposalRates)), batch: BATCH })}\n`);
}

main();
