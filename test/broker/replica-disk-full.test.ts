// A full disk never stops a replica: against real commitlogs whose writes fail with ENOSPC (the
// commitlog's test faults, `bytesLeft`), appends wait and are tried again, acknowledgements are
// withheld until the entries are durable, a leader whose own writes stall still commits through
// its followers without a checkpoint above its durable log, and once there is space every entry
// is on disk, in order, and nothing acknowledged is lost.
import t, { type Test } from 'tap';
import { Replica } from '../../src/broker/index.ts';
import { CommitLogRaftStorage, openCommitLog, type DiskFaults, type FileCommitLog } from '../../src/commitlog/index.ts';
import { RaftNode, DEFAULT_RAFT_CONFIG, EntryType, MessageType, Role, type Entry, type Message } from '../../src/raft/index.ts';
import { removeDir, tempDir } from '../commitlog/helpers.ts';
import { MemoryMeta } from './harness.ts';

const EMPTY_CONTEXT = new Uint8Array(0);

interface LogLine {
  readonly level: string;
  readonly msg: string;
}

/** Waits for `cond`; the deadline is only a liveness guard. */
async function until(cond: () => boolean, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

const ENTRY_BYTES = 200;
const payload = (index: number) => Buffer.alloc(ENTRY_BYTES, index % 251);

/** One replica over a real commitlog with disk faults, a memory meta store and a fake state
 *  machine that records what it applied and what each checkpoint held. */
async function replicaOn(t: Test, id: string, peers: string[], send: (to: string, msgs: Message[]) => void, electionTicks: number, checkpointError?: () => Error | null) {
  const dir = tempDir(`disk-full-${id}`);
  const faults: DiskFaults = { bytesLeft: Infinity };
  const log = await openCommitLog({ dir, faults, directIo: false, log: () => undefined });
  const meta = new MemoryMeta();
  const applied: number[] = [];
  const checkpoints: { applied: number; durable: number }[] = [];
  const fatal: Error[] = [];
  const lines: LogLine[] = [];
  const raft = new RaftNode(
    { ...DEFAULT_RAFT_CONFIG, id, peers, seed: peers.indexOf(id) + 1, electionTicks, heartbeatTicks: 2, applyUnpersisted: true },
    new CommitLogRaftStorage(log, meta),
  );
  const replica = new Replica({
    nodeId: id,
    raft,
    log,
    meta,
    stateMachine: {
      get appliedIndex() {
        return applied.at(-1) ?? 0;
      },
      apply: (e: Entry) => {
        applied.push(e.index);
        return e.index;
      },
      // The batch is taken in the call: what is durable in the log at that moment is what counts.
      checkpoint: async () => {
        checkpoints.push({ applied: applied.at(-1) ?? 0, durable: log.flushedIndex() });
        const err = checkpointError?.() ?? null;
        if (err !== null) throw err;
      },
    },
    peers: { send },
    logger: {
      info: (_f, msg) => lines.push({ level: 'info', msg }),
      warn: (_f, msg) => lines.push({ level: 'warn', msg }),
      error: (_f, msg) => lines.push({ level: 'error', msg }),
    },
    tickMs: 5,
    proposalTimeoutMs: 30_000,
    checkpointIntervalMs: 10,
    pendingProposalsMax: 100_000,
    inboxMessagesMax: 100_000,
    diskFullRetryMs: 20,
    onFatal: (err) => fatal.push(err),
  });
  t.teardown(async () => {
    faults.bytesLeft = Infinity;
    await replica.stop();
    await log.close();
    removeDir(dir);
  });
  return { id, dir, log, meta, faults, replica, applied, checkpoints, fatal, lines };
}

type Node = Awaited<ReturnType<typeof replicaOn>>;

/** The log's records [1, lastIndex] as `index@term:first byte`. */
function contents(log: FileCommitLog): string[] {
  return log.read(1, Infinity).map((r) => `${r.index}@${r.term}:${r.data[0] ?? '-'}`);
}

function stallLines(n: Node) {
  return {
    full: n.lines.filter((l) => l.level === 'warn' && l.msg.includes('disk is full')).length,
    back: n.lines.filter((l) => l.level === 'info' && l.msg.includes('go through again')).length,
  };
}

// ---------------------------------------------------------------- one follower, driven by hand

function appendFrom(leaderTerm: number, prevIndex: number, prevTerm: number, commit: number, indexes: number[]): Message {
  const entries: Entry[] = indexes.map((index) => ({ index, term: leaderTerm, type: EntryType.Normal, data: payload(index) }));
  return { type: MessageType.Append, from: 'n0', to: 'n1', term: leaderTerm, index: prevIndex, logTerm: prevTerm, commit, entries, reject: false, rejectHint: 0, rejectTerm: 0, transfer: false, recovering: false, context: EMPTY_CONTEXT, conf: null };
}

t.test('a follower whose writes fail with ENOSPC does not fail, acknowledges nothing it has not written, and catches up in order once there is space', async (t) => {
  const sent: Message[] = [];
  const f = await replicaOn(t, 'n1', ['n0', 'n1', 'n2'], (_to, msgs) => sent.push(...msgs), 1_000_000);
  f.replica.start();
  const acks = () => sent.filter((m) => m.type === MessageType.AppendResp && !m.reject).map((m) => m.index);
  f.replica.receive([appendFrom(1, 0, 0, 0, [1, 2, 3])]);
  await until(() => acks().includes(3), 'the ack of 1..3');

  // Room for one more batch of three records (their headers included), not for the next ones.
  const used = f.log.stats().bytesWritten;
  f.replica.receive([appendFrom(1, 3, 1, 3, [4, 5, 6])]);
  await until(() => acks().includes(6), 'the ack of 4..6');
  const perBatch = f.log.stats().bytesWritten - used;
  f.faults.bytesLeft = perBatch + Math.floor(perBatch / 2);
  f.replica.receive([appendFrom(1, 6, 1, 6, [7, 8, 9])]);
  await until(() => acks().includes(9), 'the ack of 7..9 (it fit)');
  f.replica.receive([appendFrom(1, 9, 1, 9, [10, 11, 12])]);
  await until(() => f.replica.writesStalled, 'the stall');
  const callsAtStall = f.log.stats().appendCalls;
  f.replica.receive([appendFrom(1, 12, 1, 9, [13, 14])]);
  f.replica.receive([appendFrom(1, 14, 1, 9, [15])]);
  // Several retries go by while the disk stays full.
  await new Promise((r) => setTimeout(r, 150));
  t.ok(f.log.stats().appendCalls - callsAtStall >= 2, `retries went by (${f.log.stats().appendCalls - callsAtStall} appends tried since the stall), so the one warning below stands for several`);
  t.same(f.fatal, [], 'the replica did not fail');
  t.equal(Math.max(...acks()), 9, 'nothing after the last durable entry is acknowledged');
  t.equal(f.log.lastIndex(), 9, 'the log holds only what fit');
  t.ok(f.replica.writesStalled);
  t.same(f.applied, [1, 2, 3, 4, 5, 6, 7, 8, 9], 'committed entries are applied');
  t.ok(f.checkpoints.every((c) => c.applied <= c.durable), `no checkpoint above the durable log: ${JSON.stringify(f.checkpoints.slice(-3))}`);

  f.faults.bytesLeft = Infinity;
  await until(() => acks().includes(15), 'the ack of 15 once there is space');
  t.same(f.fatal, []);
  t.notOk(f.replica.writesStalled, 'the stall is over');
  t.same(contents(f.log), Array.from({ length: 15 }, (_, i) => `${i + 1}@1:${(i + 1) % 251}`), 'every entry once, in order, with its data');
  t.same(stallLines(f), { full: 1, back: 1 }, 'one line when the stall began and one when it ended, not one per retry');
  // Durable: a reopened store has all of it.
  await f.replica.stop();
  await f.log.close();
  const again = await openCommitLog({ dir: f.dir, log: () => undefined });
  t.equal(again.lastIndex(), 15);
  await again.close();
});

t.test('a follower stopped while its disk is full stops cleanly, without a checkpoint above its log', async (t) => {
  const sent: Message[] = [];
  const f = await replicaOn(t, 'n1', ['n0', 'n1', 'n2'], (_to, msgs) => sent.push(...msgs), 1_000_000);
  f.replica.start();
  f.replica.receive([appendFrom(1, 0, 0, 0, [1, 2])]);
  await until(() => f.log.flushedIndex() === 2, 'the first write');
  f.faults.bytesLeft = 0;
  f.replica.receive([appendFrom(1, 2, 1, 4, [3, 4])]); // committed: applied ahead of the disk
  await until(() => f.replica.writesStalled && f.applied.includes(4), 'the stall');
  const before = f.checkpoints.length;
  await f.replica.stop();
  t.same(f.fatal, [], 'stopping is not a failure');
  t.equal(f.checkpoints.length, before, 'no final checkpoint: applied 4 is above the durable log (2)');
  t.ok(f.checkpoints.every((c) => c.applied <= c.durable), JSON.stringify(f.checkpoints));
});

// ---------------------------------------------------------------- a group of three in one process

async function group(t: Test) {
  const nodes = new Map<string, Node>();
  const ids = ['n0', 'n1', 'n2'];
  const send = (to: string, msgs: Message[]) => setImmediate(() => nodes.get(to)?.replica.receive(msgs));
  // Election timeouts of 250-500 ms: a loaded test machine must not elect a new leader mid-test.
  for (const id of ids) nodes.set(id, await replicaOn(t, id, ids, send, 50));
  for (const n of nodes.values()) n.replica.start();
  const leader = (): Node | undefined => [...nodes.values()].find((n) => n.replica.role.role === Role.Leader && n.replica.leaderReady);
  await until(() => leader() !== undefined, 'a leader');
  return { nodes: [...nodes.values()], leader: () => leader()! };
}

/** Proposes `count` entries on the leader; resolves with the indexes that were acknowledged. */
async function write(l: Node, from: number, count: number): Promise<number[]> {
  const results = await Promise.allSettled(Array.from({ length: count }, (_, k) => l.replica.propose(payload(from + k))));
  return results.filter((r) => r.status === 'fulfilled').map((r) => (r as PromiseFulfilledResult<number>).value);
}

t.test('a leader whose own writes fail with ENOSPC commits through its followers, checkpoints nothing above its durable log, and writes it all once there is space', async (t) => {
  const g = await group(t);
  const l = g.leader();
  const acked = await write(l, 1, 20);
  t.equal(acked.length, 20);
  l.faults.bytesLeft = 0;
  const during = await write(l, 21, 30); // the followers' copies commit them
  t.equal(during.length, 30, 'writes are still acknowledged: a quorum of followers has them');
  t.equal(g.leader(), l, 'the same leader');
  await until(() => l.replica.writesStalled, 'the leader\'s stall');
  const durableThen = l.log.flushedIndex();
  t.ok(durableThen < Math.max(...during), `the leader's own log is behind (${durableThen} < ${Math.max(...during)})`);
  await new Promise((r) => setTimeout(r, 100)); // checkpoint intervals go by
  t.ok(l.checkpoints.every((c) => c.applied <= c.durable), `no checkpoint above the durable log: ${JSON.stringify(l.checkpoints.slice(-3))}`);
  l.faults.bytesLeft = Infinity;
  await until(() => !l.replica.writesStalled && l.log.flushedIndex() >= Math.max(...during), 'the leader\'s log catching up');
  const all = [...acked, ...during];
  for (const n of g.nodes) {
    t.same(n.fatal, [], `${n.id}: no failure`);
    await until(() => n.log.flushedIndex() >= Math.max(...all), `${n.id} has everything`);
    const held = new Map(n.log.read(1, Infinity).map((r) => [r.index, r]));
    t.ok(all.every((i) => held.has(i)), `${n.id}: every acknowledged entry is in its log`);
    t.same([...held.keys()], Array.from({ length: held.size }, (_, i) => i + 1), `${n.id}: in order, no gap`);
  }
  t.same(contents(l.log), contents(g.nodes.find((n) => n !== l)!.log), 'the leader\'s log is the followers\'');
  t.same(stallLines(l), { full: 1, back: 1 });
  t.ok(l.checkpoints.some((c) => c.applied >= Math.max(...during)), 'checkpoints go on once the writes are durable');
});

t.test('a follower whose writes fail with ENOSPC holds no write back; it catches up once there is space', async (t) => {
  const g = await group(t);
  const l = g.leader();
  const f = g.nodes.find((n) => n !== l)!;
  await write(l, 1, 10);
  f.faults.bytesLeft = 0;
  const during = await write(l, 11, 40);
  t.equal(during.length, 40, 'the leader and the other follower commit without it');
  await until(() => f.replica.writesStalled, 'the follower\'s stall');
  t.ok(l.replica.status().progress[f.id]!.match < Math.max(...during), 'the stalled follower acknowledged none of them');
  f.faults.bytesLeft = Infinity;
  await until(() => f.log.flushedIndex() >= Math.max(...during) && l.replica.status().progress[f.id]!.match >= Math.max(...during), 'the follower catching up');
  t.same(f.fatal, []);
  t.same(contents(f.log), contents(l.log));
  t.same(stallLines(f), { full: 1, back: 1 });
});

for (const [what, error, fatal] of [
  ['finds the disk full is tried again at the next intervals, and the replica goes on', new Error('IO error: /store/state/000005.log: No space left on device'), false],
  ['fails otherwise: the replica stops', new Error('IO error: /store/state/000005.log: Input/output error'), true],
] as const) {
  t.test(`a state checkpoint that ${what}`, async (t) => {
    const sent: Message[] = [];
    let failing = false;
    const f = await replicaOn(t, 'n1', ['n0', 'n1', 'n2'], (_to, msgs) => sent.push(...msgs), 1_000_000, () => (failing ? error : null));
    f.replica.start();
    const acks = () => sent.filter((m) => m.type === MessageType.AppendResp && !m.reject).map((m) => m.index);
    f.replica.receive([appendFrom(1, 0, 0, 2, [1, 2])]);
    await until(() => acks().includes(2) && f.checkpoints.some((c) => c.applied === 2), 'a checkpoint at 2');
    failing = true;
    f.replica.receive([appendFrom(1, 2, 1, 4, [3, 4])]);
    await until(() => f.checkpoints.at(-1)!.applied === 4 || f.fatal.length > 0, 'the failing checkpoint');
    await new Promise((r) => setTimeout(r, 60)); // several intervals
    if (fatal) {
      t.equal(f.fatal.length, 1, 'the replica failed');
      return;
    }
    t.same(f.fatal, [], 'the replica did not fail');
    const tries = f.checkpoints.length;
    f.replica.receive([appendFrom(1, 4, 1, 6, [5, 6])]);
    await until(() => acks().includes(6), 'the ack of 6');
    await until(() => f.checkpoints.length > tries + 1, 'more tries while the disk is full');
    t.equal(f.lines.filter((l) => l.level === 'warn' && l.msg.includes('found the disk full')).length, 1, 'said once for all the tries');
    failing = false;
    await until(() => f.lines.some((l) => l.msg.includes('checkpoints go through again')), 'a checkpoint that goes through');
    t.equal(f.checkpoints.at(-1)!.applied, 6, 'the next checkpoint holds everything applied');
  });
}

t.test('a vote whose hard state cannot be written for lack of space is not sent until it is durable; the replica does not fail', async (t) => {
  const sent: Message[] = [];
  const f = await replicaOn(t, 'n1', ['n0', 'n1', 'n2'], (_to, msgs) => sent.push(...msgs), 1_000_000);
  f.replica.start();
  f.meta.full = true;
  const vote: Message = { type: MessageType.Vote, from: 'n2', to: 'n1', term: 4, index: 0, logTerm: 0, commit: 0, entries: [], reject: false, rejectHint: 0, rejectTerm: 0, transfer: true, recovering: false, context: EMPTY_CONTEXT, conf: null };
  f.replica.receive([vote]);
  await until(() => f.meta.failedWrites >= 3, 'a few tries');
  t.same(sent.filter((m) => m.type === MessageType.VoteResp), [], 'no vote response while the vote is not durable');
  t.same(f.fatal, []);
  f.meta.full = false;
  await until(() => sent.some((m) => m.type === MessageType.VoteResp), 'the vote response');
  t.match(f.meta.hs, { term: 4, vote: 'n2' }, 'durable first');
  t.match(sent.find((m) => m.type === MessageType.VoteResp), { to: 'n2', term: 4, reject: false });
  t.equal(f.lines.filter((l) => l.msg.includes('hard state (term 4, vote) cannot be written')).length, 1, 'one warning for all the tries');
});
