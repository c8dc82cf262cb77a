// The replica driver's pipelined persistence, against a commitlog whose writes become durable
// only when the test says so: append acknowledgements never leave before their write (and every
// earlier one) is durable, the loop keeps taking work while writes are in flight, a truncation
// waits for nothing it must not, and a failed write stops the replica with no ack after it.
import t from 'tap';
import { Replica } from '../../src/broker/index.ts';
import { type CommitLog, type LogRecord, CommitLogRaftStorage } from '../../src/commitlog/index.ts';
import { RaftNode, type Entry, type Message, DEFAULT_RAFT_CONFIG, EntryType, MessageType } from '../../src/raft/index.ts';
import { MemoryMeta } from './harness.ts';

const EMPTY_CONTEXT = new Uint8Array(0);

interface PendingWrite {
  readonly last: number;
  resolve(): void;
  reject(err: Error): void;
}

/** A CommitLog in memory; appends are accepted at once and become durable when the test says. */
class ManualLog implements CommitLog {
  /** Whether a resolved append is durable (SYNC_FLUSH's contract); set per test. */
  appendsDurable = false;
  records: LogRecord[] = [];
  /** What the replica asked of the log and of the state machine, in order (see follower()). */
  readonly events: string[] = [];
  readonly writes: PendingWrite[] = [];
  truncations = 0;
  /** While set, truncateAfter waits for it; appends meanwhile are refused, as the real log does. */
  truncateGate: Promise<void> | null = null;
  private truncating = false;
  firstIndex(): number {
    return 1;
  }
  lastIndex(): number {
    return this.records.length;
  }
  flushedIndex(): number {
    return 0; // the replica tracks durability itself (its write chain), not through this
  }
  termAt(index: number): number {
    return index === 0 ? 0 : this.records[index - 1]!.term;
  }
  append(records: readonly LogRecord[]): Promise<void> {
    if (this.truncating) return Promise.reject(new Error('append while truncateAfter is in progress'));
    if (records[0]!.index !== this.records.length + 1) return Promise.reject(new Error(`append at ${records[0]!.index}, last ${this.records.length}`));
    this.records.push(...records);
    this.events.push(`append ${records[records.length - 1]!.index}`);
    return new Promise((resolve, reject) => this.writes.push({ last: records[records.length - 1]!.index, resolve, reject }));
  }
  writeNow(): void {
    this.events.push('writeNow');
  }
  read(fromIndex: number, maxBytes: number): LogRecord[] {
    void maxBytes;
    return this.records.slice(fromIndex - 1);
  }
  async truncateAfter(index: number): Promise<void> {
    this.truncations++;
    this.truncating = true;
    await this.truncateGate;
    this.records.length = index;
    this.truncating = false;
  }
  async deleteBefore(): Promise<void> {}
  async restartAt(): Promise<void> {
    throw new Error("ManualLog: restartAt is not modelled");
  }
  async flush(): Promise<void> {}
  async close(): Promise<void> {}
}

function append(term: number, prevIndex: number, prevTerm: number, commit: number, indexes: number[], entryTerm = term): Message {
  const entries: Entry[] = indexes.map((index) => ({ index, term: entryTerm, type: EntryType.Normal, data: Buffer.from(`e${index}`) }));
  return { type: MessageType.Append, from: 'n0', to: 'n1', term, index: prevIndex, logTerm: prevTerm, commit, entries, reject: false, rejectHint: 0, rejectTerm: 0, transfer: false, recovering: false, context: EMPTY_CONTEXT, conf: null };
}

const turn = () => new Promise((r) => setImmediate(r));
async function turns(n = 5): Promise<void> {
  for (let i = 0; i < n; i++) await turn();
}

interface FollowerOptions {
  readonly flushDiskType?: 'SYNC_FLUSH' | 'ASYNC_FLUSH';
  readonly checkpointIntervalMs?: number;
  readonly checkpoint?: () => Promise<unknown>;
}

function follower(t: { teardown(fn: () => unknown): void }, options: FollowerOptions = {}) {
  const log = new ManualLog();
  log.appendsDurable = options.flushDiskType === 'SYNC_FLUSH';
  const meta = new MemoryMeta();
  const sent: Message[] = [];
  const fatal: Error[] = [];
  const applied: number[] = [];
  const raft = new RaftNode({ ...DEFAULT_RAFT_CONFIG, id: 'n1', peers: ['n0', 'n1', 'n2'], seed: 1, electionTicks: 1000, applyUnpersisted: true }, new CommitLogRaftStorage(log, meta));
  const replica = new Replica({
    nodeId: 'n1',
    raft,
    log,
    meta,
    stateMachine: {
      get appliedIndex() {
        return applied.length === 0 ? 0 : applied[applied.length - 1]!;
      },
      apply: (e: Entry) => {
        applied.push(e.index);
        log.events.push(`apply ${e.index}`);
      },
      checkpoint: options.checkpoint ?? (async () => undefined),
    },
    peers: { send: (_to, msgs) => sent.push(...msgs) },
    logger: { info: () => undefined, warn: () => undefined, error: () => undefined },
    tickMs: 1000,
    proposalTimeoutMs: 1000,
    checkpointIntervalMs: options.checkpointIntervalMs ?? 60_000,
    pendingProposalsMax: 100,
    inboxMessagesMax: 1000,
    onFatal: (err) => fatal.push(err),
  });
  replica.start();
  t.teardown(() => {
    for (const w of log.writes) w.resolve(); // stop() waits for writes in flight
    return replica.stop();
  });
  const acks = () => sent.filter((m) => m.type === MessageType.AppendResp && !m.reject).map((m) => m.index);
  return { log, meta, replica, sent, fatal, applied, acks };
}

t.test('acks leave only once their write and every earlier one are durable, in order', async (t) => {
  const f = follower(t);
  f.replica.receive([append(1, 0, 0, 0, [1, 2, 3])]);
  await turns();
  t.equal(f.log.writes.length, 1, 'the first write started');
  t.same(f.acks(), [], 'no ack before it is durable');
  f.replica.receive([append(1, 3, 1, 0, [4, 5])]);
  await turns();
  t.equal(f.log.writes.length, 2, 'the loop took the next append while the first write was in flight');
  t.same(f.acks(), [], 'still no ack');
  f.log.writes[1]!.resolve();
  await turns();
  t.same(f.acks(), [], 'the second write being durable first releases nothing');
  f.log.writes[0]!.resolve();
  await turns();
  t.same(f.acks(), [3, 5], 'both acks, in write order');
  t.equal(f.meta.writes, 1, 'one synced hard-state write (the new term), not one per Ready');
});

t.test('committed entries are applied while a later write is still in flight', async (t) => {
  const f = follower(t);
  f.replica.receive([append(1, 0, 0, 0, [1, 2])]);
  await turns();
  f.log.writes[0]!.resolve();
  await turns();
  f.replica.receive([append(1, 2, 1, 2, [3])]); // commit 2 rides on the next append
  await turns();
  t.same(f.applied, [1, 2], 'entries 1-2 (durable, committed) applied');
  t.equal(f.log.writes.length, 2, 'while entry 3 is being written');
  t.same(f.acks(), [2], 'entry 3 not acknowledged yet');
});

t.test('a follower starts its write (now, not at the end of the turn) before it applies: its leader waits for the write', async (t) => {
  const f = follower(t);
  f.replica.receive([append(1, 0, 0, 0, [1, 2])]);
  await turns();
  f.log.writes[0]!.resolve();
  await turns();
  f.log.events.length = 0;
  f.replica.receive([append(1, 2, 1, 2, [3])]); // one Ready: entry 3 to write, entries 1-2 to apply
  await turns();
  t.same(f.log.events, ['append 3', 'writeNow', 'apply 1', 'apply 2']);
});

t.test('a conflicting append behind an in-flight write is truncated in, and acknowledged only once durable', async (t) => {
  const f = follower(t);
  f.replica.receive([append(1, 0, 0, 0, [1, 2, 3])]);
  await turns();
  // A new leader (term 2) replaces entries 2.. while the first write is still in flight.
  f.replica.receive([{ ...append(2, 1, 1, 0, [2, 3, 4], 2) }]);
  await turns();
  t.equal(f.log.truncations, 1, 'truncated once');
  t.same(f.log.records.map((r) => r.term), [1, 2, 2, 2], 'the log holds the new leader suffix');
  t.same(f.acks(), [], 'nothing acknowledged while writes are in flight');
  for (const w of f.log.writes) w.resolve();
  await turns();
  t.same(f.acks().slice(-1), [4], 'the conflicting append is acknowledged once durable');
  t.equal(f.fatal.length, 0);
});

t.test('a failed write stops the replica and nothing after it is acknowledged', async (t) => {
  const f = follower(t);
  f.replica.receive([append(1, 0, 0, 0, [1])]);
  await turns();
  f.replica.receive([append(1, 1, 1, 0, [2])]);
  await turns();
  f.log.writes[1]!.resolve();
  f.log.writes[0]!.reject(new Error('EIO'));
  await turns();
  t.equal(f.fatal.length, 1, 'the replica failed');
  t.match(f.fatal[0]!.message, /EIO/);
  t.same(f.acks(), [], 'no acknowledgement for the failed write or the one after it');
});

t.test('appends that arrive while a truncation runs wait for it (the log refuses them meanwhile)', async (t) => {
  const f = follower(t);
  f.replica.receive([append(1, 0, 0, 0, [1, 2, 3])]);
  await turns();
  let release!: () => void;
  f.log.truncateGate = new Promise<void>((r) => (release = r));
  f.replica.receive([append(2, 1, 1, 0, [2, 3], 2)]); // conflict at 2: truncation starts and waits
  await turns();
  f.replica.receive([append(2, 3, 2, 0, [4, 5], 2)]); // arrives during the truncation
  await turns();
  t.equal(f.log.truncations, 1);
  t.same(f.log.records.map((r) => r.index), [1, 2, 3], 'nothing appended while the truncation runs');
  release();
  await turns();
  t.same(f.log.records.map((r) => `${r.index}@${r.term}`), ['1@1', '2@2', '3@2', '4@2', '5@2'], 'both appends went in after it, in order');
  t.equal(f.fatal.length, 0, 'no append was refused');
  for (const w of f.log.writes) w.resolve();
  await turns();
  t.same(f.acks().slice(-1), [5], 'acknowledged up to 5 once durable');
});

/** A checkpoint that completes only when the test releases it. */
function heldCheckpoint() {
  let calls = 0;
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  return {
    checkpoint: () => {
      calls++;
      return held;
    },
    get calls() {
      return calls;
    },
    release: () => release(),
  };
}

t.test('SYNC_FLUSH: the loop keeps appending, acknowledging and applying while a checkpoint is written', async (t) => {
  const ckpt = heldCheckpoint();
  const f = follower(t, { flushDiskType: 'SYNC_FLUSH', checkpoint: ckpt.checkpoint });
  t.teardown(ckpt.release);
  await turns();
  t.equal(ckpt.calls, 1, 'the first checkpoint started (and is held)');
  f.replica.receive([append(1, 0, 0, 0, [1, 2])]);
  await turns();
  f.log.writes[0]!.resolve();
  await turns();
  f.replica.receive([append(1, 2, 1, 2, [3])]);
  await turns();
  t.same(f.acks(), [2], 'acknowledged while the checkpoint is in flight');
  t.same(f.applied, [1, 2], 'applied while the checkpoint is in flight');
  t.equal(ckpt.calls, 1, 'no second checkpoint while one runs');
});

t.test('ASYNC_FLUSH: the loop waits for the flush and the checkpoint (the checkpoint must not run ahead of the disk)', async (t) => {
  const ckpt = heldCheckpoint();
  const f = follower(t, { flushDiskType: 'ASYNC_FLUSH', checkpoint: ckpt.checkpoint });
  await turns();
  t.equal(ckpt.calls, 1, 'the first checkpoint started (and is held)');
  f.replica.receive([append(1, 0, 0, 0, [1, 2])]);
  await turns();
  t.equal(f.log.writes.length, 0, 'nothing taken while the checkpoint runs');
  ckpt.release();
  await turns();
  t.equal(f.log.writes.length, 1, 'the append is taken once it is done');
});

t.test('a committed entry is applied before this replica\'s own write of it is durable (applyUnpersisted)', async (t) => {
  const f = follower(t);
  f.replica.receive([append(1, 0, 0, 2, [1, 2])]); // entries and the commit that covers them
  await turns();
  t.same(f.applied, [1, 2], 'applied while the write is in flight');
  t.same(f.acks(), [], 'but not acknowledged');
  f.log.writes[0]!.resolve();
  await turns();
  t.same(f.acks(), [2]);
});

/** A follower whose checkpoints record the applied index they hold, next to what the test
 *  made durable; resolve writes with durable(k) so the two can be compared. */
function checkpointingFollower(t: Parameters<typeof follower>[0]) {
  const checkpoints: { applied: number; durable: number }[] = [];
  let durableIndex = 0;
  const f = follower(t, {
    flushDiskType: 'SYNC_FLUSH',
    checkpointIntervalMs: 5,
    checkpoint: async () => {
      // Runs in a later turn, never during follower(): f is set by then.
      checkpoints.push({ applied: f.applied.at(-1) ?? 0, durable: durableIndex });
    },
  });
  const durable = (k: number) => {
    f.log.writes[k]!.resolve();
    durableIndex = f.log.writes[k]!.last; // writes complete in order in these tests
  };
  const later = () => new Promise((r) => setTimeout(r, 15));
  return { f, checkpoints, durable, later };
}

t.test('SYNC_FLUSH: a checkpoint never records an applied index above the durable log', async (t) => {
  const { f, checkpoints, durable, later } = checkpointingFollower(t);
  f.replica.receive([append(1, 0, 0, 2, [1, 2])]);
  await turns();
  t.same(f.applied, [1, 2], 'applied ahead of the disk');
  for (let i = 0; i < 3; i++) {
    await later();
    f.replica.receive([append(1, 2, 1, 2, [])]); // a heartbeat-like append: a turn
    await turns();
  }
  t.ok(checkpoints.every((s) => s.applied <= s.durable), `no checkpoint above the durable log: ${JSON.stringify(checkpoints)}`);
  const before = checkpoints.length;
  durable(0);
  await later();
  f.replica.receive([append(1, 2, 1, 2, [])]);
  await turns();
  t.ok(checkpoints.length > before && checkpoints.at(-1)!.applied === 2, 'checkpointed at 2 once the write is durable');
  t.ok(checkpoints.every((s) => s.applied <= s.durable), JSON.stringify(checkpoints));
});

t.test('SYNC_FLUSH: an old durable suffix that a write in flight replaces does not count as durable', async (t) => {
  const { f, checkpoints, durable, later } = checkpointingFollower(t);
  f.replica.receive([append(1, 0, 0, 1, [1, 2, 3])]); // term 1: 1..3, commit 1
  await turns();
  durable(0);
  await turns();
  t.same(f.applied, [1]);
  // Term 2's leader replaces 2..3 and commits them at once: applied before the new write is durable.
  f.replica.receive([append(2, 1, 1, 3, [2, 3], 2)]);
  await turns();
  t.same(f.applied, [1, 2, 3], 'the new 2..3 applied ahead of the disk');
  for (let i = 0; i < 2; i++) {
    await later();
    f.replica.receive([append(2, 3, 2, 3, [])]);
    await turns();
  }
  t.ok(checkpoints.every((s) => s.applied <= 1), `the durable 2..3 of term 1 are not what was applied: ${JSON.stringify(checkpoints)}`);
  durable(1);
  await later();
  f.replica.receive([append(2, 3, 2, 3, [])]);
  await turns();
  t.equal(checkpoints.at(-1)?.applied, 3, 'checkpointed at 3 once the new write is durable');
});

t.test('SYNC_FLUSH: a checkpoint put off for three intervals waits for the writes in flight', async (t) => {
  const { f, checkpoints, durable } = checkpointingFollower(t);
  f.replica.receive([append(1, 0, 0, 2, [1, 2])]);
  await turns();
  // Turns keep coming (as under load); after 3 intervals (15 ms) the loop stops to wait for the
  // writes. (Well below writesInFlightMax, 32, which would also stop it.)
  let taken = f.log.writes.length;
  let stopped = false;
  for (let next = 3; next < 20 && !stopped; next++) {
    await new Promise((r) => setTimeout(r, 5));
    f.replica.receive([append(1, next - 1, 1, 2, [next])]);
    await turns();
    stopped = f.log.writes.length === taken; // this append was not taken: the loop waits
    taken = f.log.writes.length;
  }
  t.ok(stopped, `the loop stopped to wait, with ${taken} writes in flight`);
  t.ok(checkpoints.every((s) => s.applied <= s.durable), JSON.stringify(checkpoints));
  for (let k = 0; k < f.log.writes.length; k++) durable(k);
  await turns();
  t.ok(checkpoints.some((s) => s.applied >= 2), `then checkpointed: ${JSON.stringify(checkpoints)}`);
  t.ok(checkpoints.every((s) => s.applied <= s.durable), JSON.stringify(checkpoints));
  t.ok(f.log.writes.length > taken, 'and took the waiting append');
});

t.test('the durable commit index never runs ahead of what the durable log holds for sure (a truncation in flight)', async (t) => {
  const f = follower(t);
  // Term 2: entries 1-10, committed up to 7; 8-10 are not committed.
  f.replica.receive([append(2, 0, 0, 7, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10])]);
  await turns();
  for (const w of f.log.writes) w.resolve();
  await turns();
  // A new leader (term 3) replaces 8-10 with 8-12 and says 12 is committed; the truncation hangs.
  let release!: () => void;
  f.log.truncateGate = new Promise<void>((r) => (release = r));
  f.replica.receive([append(3, 7, 2, 12, [8, 9, 10, 11, 12])]);
  await turns();
  // Before it lands, this replica votes in term 4: its hard state (term, vote) must be synced now.
  const vote: Message = { type: MessageType.Vote, from: 'n2', to: 'n1', term: 4, index: 12, logTerm: 3, commit: 0, entries: [], reject: false, rejectHint: 0, rejectTerm: 0, transfer: true, recovering: false, context: EMPTY_CONTEXT, conf: null };
  f.replica.receive([vote]);
  await turns();
  t.equal(f.meta.hs.term, 4, 'the vote is durable');
  t.ok(f.meta.hs.commit <= 7, `its durable commit (${f.meta.hs.commit}) covers no entry the old suffix 8-10 still holds on disk`);
  release();
  for (const w of f.log.writes) w.resolve();
  await turns();
});
