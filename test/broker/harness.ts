// A fake Raft log for state machine tests: entries live in an array; readEntry reads it. And an
// in-memory meta store for replica driver tests.
import type { Test } from 'tap';
import type { MetaStore } from '../../src/commitlog/index.ts';
import { Connection } from '../../src/net/index.ts';
import { EntryType, NONE, Role, encodeConfChangeEntry, type ConfChangeEntry } from '../../src/raft/index.ts';
import {
  type BrokerCommand,
  decodeCommand,
  encodeCommand,
  type ApplyEntry,
  type ApplyResult,
  type BrokerStateMachineOptions,
  BrokerStateMachine,
  BrokerError,
  MemberDirectory,
  encodeMemberContext,
  type MembersView,
  type BrokerServerOptions,
  type BrokerServer,
} from '../../src/broker/index.ts';

export class FakeLog {
  readonly entries: ApplyEntry[] = [];
  reads = 0;
  readonly readEntry = (logIndex: number): Uint8Array | undefined => {
    this.reads++;
    return this.entries[logIndex - 1]?.data;
  };
  append(cmd: Step, term = 1): ApplyEntry {
    const index = this.entries.length + 1;
    const entry: ApplyEntry =
      cmd === 'raft-noop'
        ? { index, term, type: 1, data: new Uint8Array(0) }
        : 'conf' in cmd
          ? { index, term, type: EntryType.ConfChange, data: encodeConfChangeEntry(cmd.conf) }
          : { index, term, type: 0, data: encodeCommand(cmd) };
    this.entries.push(entry);
    return entry;
  }
  options(extra: Partial<BrokerStateMachineOptions> = {}): BrokerStateMachineOptions {
    return { brokerName: 'broker-a', readEntry: this.readEntry, ...extra };
  }
}

/** A log entry to build: a broker command, the Raft no-op a new leader appends, or a
 *  configuration change (the core's entry; the broker keeps its member addresses). */
export type Step = BrokerCommand | 'raft-noop' | { readonly conf: ConfChangeEntry };

/** A configuration entry that makes `voters` and `learners` the group, each member at its own
 *  made-up addresses. */
export function confStep(op: ConfChangeEntry['op'], node: string, voters: readonly string[], learners: readonly string[] = []): Step {
  const addresses = [...voters, ...learners].map((id, i) => ({ id, peerAddr: `127.0.0.1:${20000 + i}`, clientAddr: `127.0.0.1:${10000 + i}` }));
  return { conf: { op, node, context: encodeMemberContext(addresses), conf: { voters, learners } } };
}

/** A log as a sequence of leaders would write it: every raft no-op starts a new term. */
export function buildLog(steps: readonly Step[]): FakeLog {
  const log = new FakeLog();
  let term = 1;
  for (const s of steps) {
    if (s === 'raft-noop') term++;
    log.append(s, term);
  }
  return log;
}

/** A log plus an in-memory state machine that applies every appended entry at once. */
export class Harness {
  readonly log = new FakeLog();
  readonly sm: BrokerStateMachine;
  constructor(extra: Partial<BrokerStateMachineOptions> = {}) {
    this.sm = new BrokerStateMachine(this.log.options(extra));
  }
  /** Appends and applies (commit = apply at once). */
  run(cmd: Step, term = 1): ApplyResult {
    return this.sm.apply(this.log.append(cmd, term));
  }
  send(topic: string, queueId: number, bodies: string[], storeTimestamp = 1000): ApplyResult {
    const cmd = this.sm.prepareSend(topic, queueId, bodies.map((b) => ({ body: Buffer.from(b) })), storeTimestamp);
    return this.run(cmd);
  }
}

/** Sends among `results` (of applying `entries`, in order) whose queue offsets do not continue
 *  where their queue stood: 0 when offsets are dense. A deleted topic's queues start again at 0;
 *  a send answered as a duplicate stores nothing and must answer within what is stored. */
export function offsetHoles(entries: readonly ApplyEntry[], results: readonly ApplyResult[]): number {
  const next = new Map<string, number>();
  let holes = 0;
  results.forEach((r, i) => {
    const entry = entries[i]!;
    if (entry.type !== 0 || r.type === 'error') return;
    const cmd = decodeCommand(entry.data);
    if (cmd.kind === 'deleteTopic') {
      for (const q of [...next.keys()]) if (q.startsWith(`${cmd.topic}/`)) next.delete(q);
      return;
    }
    if (cmd.kind !== 'sendBatch' || r.type !== 'sendResult') return;
    const q = `${cmd.topic}/${cmd.queueId}`;
    const first = next.get(q) ?? 0;
    const { batch } = r;
    if (batch.queueId !== cmd.queueId || batch.count !== cmd.messages.length) holes++;
    else if ('duplicate' in r && r.duplicate === true) {
      if (batch.firstOffset + batch.count > first) holes++;
    } else {
      if (batch.firstOffset !== first || batch.logIndex !== entry.index) holes++;
      next.set(q, first + batch.count);
    }
  });
  return holes;
}

/** The BrokerError code `fn` throws, or undefined when it does not throw (other errors rethrown). */
export function brokerErrorCode(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof BrokerError) return err.code;
    throw err;
  }
  return undefined;
}

/** The hard state in memory; counts its writes. While `full`, writes fail as the LevelDB store's
 *  do on a full disk. */
export class MemoryMeta implements MetaStore {
  hs = { term: 0, vote: NONE, commit: 0 };
  writes = 0;
  full = false;
  failedWrites = 0;
  getHardState() {
    return { ...this.hs };
  }
  async setHardState(hs: { term: number; vote: string; commit: number }): Promise<void> {
    if (this.full) {
      this.failedWrites++;
      throw Object.assign(new Error('meta store: disk full while writing the hard state'), { code: 'DISK_FULL' });
    }
    this.writes++;
    this.hs = { ...hs };
  }
  async get(): Promise<Uint8Array | undefined> {
    return undefined;
  }
  async put(): Promise<void> {}
  async close(): Promise<void> {}
}

/** The membership view of a group that never changed its seed `ids` (server tests). */
/** A BrokerServer's options for server-level tests: replica n1 of a seed n0..n2 on a free port,
 *  over `sm`, with the given (fake) replica; `over` sets the rest. */
export function testServerOptions(sm: BrokerStateMachine, replica: unknown, over: Partial<BrokerServerOptions> = {}): BrokerServerOptions {
  return {
    host: '127.0.0.1',
    port: 0,
    advertisedAddr: '127.0.0.1:1',
    nodeId: 'n1',
    seedPeers: ['n0', 'n1', 'n2'],
    peerAddr: '127.0.0.1:2',
    members: staticMembers(['n0', 'n1', 'n2']),
    brokerName: 'broker-a',
    autoCreateTopicEnable: true,
    defaultTopicQueueNums: 4,
    sendTimeoutMs: 1000,
    replica: replica as BrokerServerOptions['replica'],
    stateMachine: sm,
    log: () => undefined,
    clientAddrOf: () => '',
    ...over,
  };
}

export function staticMembers(ids: readonly string[]): MembersView {
  return {
    conf: () => ({ voters: ids, learners: [] }),
    configIndex: () => 0,
    directory: new MemberDirectory(ids.map((id, i) => ({ id, peerAddr: `127.0.0.1:${20000 + i}`, clientAddr: `127.0.0.1:${10000 + i}` }))),
  };
}

/** A frame answered by the server: the response, or an error frame (code, masterAddr, message). */
export type Answer = { type: string; id: number } & Record<string, unknown>;

/** Starts `server` and opens connections to it whose requests resolve to the Answer (an error
 *  too, never a rejection); the connections and the server close at the test's end. */
export async function serveAnswering(t: Test, server: BrokerServer): Promise<{ connect: () => (frame: object) => Promise<Answer>; conns: Connection[] }> {
  await server.start();
  const conns: Connection[] = [];
  const connect = () => {
    const conn = new Connection({ host: '127.0.0.1', port: server.port, reconnect: 'lazy' });
    conns.push(conn);
    return (frame: object): Promise<Answer> =>
      conn.request<Answer>(frame as never).then(
        (r) => r,
        (e: { code?: string; masterAddr?: string; message: string }) => ({ type: 'error', id: 0, code: e.code, masterAddr: e.masterAddr, message: e.message }),
      );
  };
  t.teardown(async () => {
    for (const c of conns) await c.close();
    await server.close();
  });
  return { connect, conns };
}

/** A ready master of term 3 (a fake Replica) whose proposals are appended to `h.log` and applied
 *  at once on `h.sm`. `afterApply` sees each result and may replace it or throw (a test that
 *  loses answers). */
export function applyingMaster(h: Harness, afterApply: (result: ApplyResult) => ApplyResult = (r) => r) {
  return {
    role: { role: Role.Leader, leaderId: 'n1', term: 3 },
    readStaleness: () => null,
    leaderReady: true,
    whenLeaderReady: async () => true,
    roleChanges: () => [],
    status: () => ({ id: 'n1', role: Role.Leader, term: 3, vote: 'n1', leaderId: 'n1', commit: 9, applied: 9, lastIndex: 9, leaderCommit: 9, recovering: false, progress: {}, transferee: '', conf: { voters: ['n0', 'n1', 'n2'], learners: [] }, pendingConfIndex: 0 }),
    membershipChangePending: false,
    propose: async (data: Uint8Array): Promise<ApplyResult> => {
      const entry = { index: h.log.entries.length + 1, term: 3, type: 0, data };
      h.log.entries.push(entry);
      return afterApply(h.sm.apply(entry));
    },
  };
}
