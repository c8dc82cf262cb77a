// Safety checkers for the simulation. The simulated cluster reports what a perfect observer of
// the drivers would see (roles, log writes, commit indexes, applied entries, votes, acknowledged
// proposals) as a sequence of Observations; the checker folds over that history incrementally
// and reports the first broken invariant. `checkHistory` is the pure form used by the unit tests.
//
// Decisions worth knowing (see also DESIGN.md, "Tests"):
//  - A node's log is what the core has handed to its driver (durable entries plus the unstable
//    entries of Readies whose write is in flight). A crash replaces it by the durable log.
//  - The commit index is monotonic within one incarnation of a node. HardState.commit is
//    optional durable state, so after a restart the commit index may start lower (at the
//    durable commit, or 0) and must climb again; it may never start above the durable commit.
//    The global committed prefix (every entry any node ever reported committed) never shrinks.
//  - "Committed in term T" is approximated from above by the term of the first node seen to
//    report the index committed; Leader Completeness is checked for leaders of later terms only,
//    which keeps the check sound (no false alarms) while still catching Figure 8.
//  - Compacted logs (snapshots): the state machine is a hash chain over the applied entries
//    (stateHash), and a reference chain is computed from the global committed prefix. A node's
//    log below its snapshot (a restart over a compacted store, or an installed snapshot) is
//    taken to be the committed prefix, which is sound because the snapshot's state must equal
//    the reference state at its index (and its term the committed entry's term), and a snapshot
//    may not be installed below what the node already committed. Every applied state is checked
//    against the reference too. The other checks then run unchanged on the indexes above.

import { type ConfState, type Entry, type NodeId, EntryType, Role, decodeConfChangeEntry } from '../../src/raft/index.ts';

export type Invariant =
  | 'election-safety'
  | 'vote-once'
  | 'term-monotonic'
  | 'log-matching'
  | 'leader-append-only'
  | 'leader-completeness'
  | 'committed-stable'
  | 'commit-monotonic'
  | 'state-machine-safety'
  | 'snapshot-state'
  | 'acked-durable'
  /** Two configurations in flight (the latest committed one and those after it in a log) differ
   *  by more than one voter: their majorities need not overlap. */
  | 'conf-in-flight'
  /** The latest committed conf entry is not held by a majority of that configuration's voters
   *  (a node whose store was lost, recovering, counts as holding it: one lost store is in the
   *  fault model). */
  | 'conf-majority';

export interface Violation {
  /** An Invariant, or a harness-level one: 'core-threw', 'driver-contract', 'liveness'. */
  readonly invariant: string;
  readonly message: string;
}

/** A proposal the client saw succeed: entries [firstIndex, lastIndex] of `term` with `data`. */
export interface AckedProposal {
  readonly term: number;
  readonly firstIndex: number;
  readonly lastIndex: number;
  readonly data: readonly Uint8Array[];
}

export type Observation =
  /** The driver saw this role (SoftState) at `term`. Role Leader makes the node leader of `term`. */
  | { readonly k: 'role'; readonly node: NodeId; readonly term: number; readonly role: Role }
  /** The node sent a message only a leader sends (Append, Heartbeat, TimeoutNow) in `term`. */
  | { readonly k: 'leaderMsg'; readonly node: NodeId; readonly term: number }
  /** `voter` granted its vote to `candidate` in `term` (a VoteResp that left the node). */
  | { readonly k: 'vote'; readonly voter: NodeId; readonly term: number; readonly candidate: NodeId }
  /** The node's log was written from entries[0].index (a stored suffix from there is replaced). */
  | { readonly k: 'log'; readonly node: NodeId; readonly entries: readonly Entry[] }
  /** The node's commit index is `commit` while it is at `term`. */
  | { readonly k: 'commit'; readonly node: NodeId; readonly term: number; readonly commit: number }
  /** The node applied these entries (in order); `hash`: its state machine's state after them. */
  | { readonly k: 'apply'; readonly node: NodeId; readonly entries: readonly Entry[]; readonly hash?: number }
  /** The node's log became a snapshot at (index, term) and its state machine the snapshot's
   *  state `hash` (Ready.snapshot, with the state the leader sent along). */
  | { readonly k: 'snapshot'; readonly node: NodeId; readonly index: number; readonly term: number; readonly hash: number }
  | { readonly k: 'crash'; readonly node: NodeId }
  /** The node restarted from its durable state: `log` (from index 1, or from after `snapshot`,
   *  its store's compaction point), the durable term, the durable commit (what the driver knows
   *  committed: HardState.commit, its applied checkpoint or its snapshot, whichever is highest),
   *  the commit/applied indexes the new core starts from, and (`stateHash`) its state machine's
   *  state at `applied`. */
  | {
      readonly k: 'restart';
      readonly node: NodeId;
      readonly log: readonly Entry[];
      readonly snapshot?: { readonly index: number; readonly term: number };
      readonly stateHash?: number;
      readonly term: number;
      readonly durableCommit: number;
      readonly commit: number;
      readonly applied: number;
      /** Its store lost what it may have acknowledged (HardState.recovering). */
      readonly recovering?: boolean;
      /** "index/term" of every entry in a message still in flight (see onRestart). */
      readonly entriesInFlight?: ReadonlySet<string>;
    }
  /** The proposer applied proposal.lastIndex with proposal.term while it was at `term`: the
   *  client got its acknowledgement. */
  | { readonly k: 'ack'; readonly node: NodeId; readonly term: number; readonly proposal: AckedProposal };

const hexCache = new WeakMap<Uint8Array, string>();

/** A stable key for an entry body (bodies are shared, so the hex string is cached per body). */
export function dataKey(data: Uint8Array): string {
  let s = hexCache.get(data);
  if (s === undefined) {
    s = Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('hex');
    hexCache.set(data, s);
  }
  return s;
}

/** Identity of an entry at a known index: term, type and body. */
export function entryKey(e: Entry): string {
  return `${e.term}/${e.type}/${dataKey(e.data)}`;
}

/** The simulated state machine's state before anything is applied. */
export const INITIAL_STATE_HASH = 0;

/** The state after applying the entry with key `key` in state `prev` (a 32-bit FNV-1a chain):
 *  equal states at an index mean equal applied prefixes (up to hash collisions). */
export function stateHash(prev: number, key: string): number {
  let h = (prev ^ 0x811c9dc5) >>> 0;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

function keyTypeIsConf(key: string): boolean {
  return key.startsWith(`${keyTerm(key)}/${EntryType.ConfChange}/`);
}

function keyTerm(key: string): number {
  return Number(key.slice(0, key.indexOf('/')));
}

interface NodeView {
  /** Keys and terms of the node's log: index i is at [i - 1]. */
  keys: string[];
  terms: number[];
  /** Commit index of this incarnation (monotonic until a crash). */
  commit: number;
  applied: number;
  term: number;
  /** Term it is leader of, 0 when not leader. */
  leaderTerm: number;
  alive: boolean;
  /** Indexes of the ConfChange entries of its log, ascending. */
  confIdx: number[];
  /** It restarted with a lost store (recovering). */
  recovering: boolean;
}

interface Registered {
  readonly key: string;
  readonly prevTerm: number;
}

interface Ack extends AckedProposal {
  readonly keys: readonly string[];
  readonly boundTerm: number;
  readonly node: NodeId;
}

export class SafetyChecker {
  private readonly nodes = new Map<NodeId, NodeView>();
  private readonly leaders = new Map<number, NodeId>();
  private readonly votes = new Map<string, NodeId>();
  /** index -> term -> (entry key, term of the previous index) for Log Matching. */
  private readonly registry: (Map<number, Registered> | undefined)[] = [];
  /** The global committed prefix: key per index, and the smallest observer term. */
  private readonly committedKeys: string[] = [''];
  private readonly committedAt: number[] = [0];
  private readonly appliedKeys: string[] = [];
  /** The reference state machine: its state after applying the committed prefix [1, i]. */
  private readonly refHashes: number[] = [INITIAL_STATE_HASH];
  private readonly acks: Ack[] = [];
  /** Number of distinct (term, leader) pairs seen. */
  elections = 0;
  /** The configuration of every ConfChange entry seen, by entry key. */
  private readonly confOfKey = new Map<string, ConfState>();
  /** Indexes of the ConfChange entries of the global committed prefix, ascending. */
  private readonly committedConfIdx: number[] = [];
  private readonly seed: ConfState;
  private readonly forgotten = new Set<string>();

  /** `seedVoters`: RaftConfig.peers of the group (the configuration before any conf entry). */
  constructor(seedVoters: readonly NodeId[] = []) {
    this.seed = { voters: seedVoters, learners: [] };
  }

  /** The configurations of the conf entries above the committed prefix in any node's log. */
  confsInFlight(): ConfState[] {
    const c = this.committedIndex();
    const out: ConfState[] = [];
    for (const v of this.nodes.values()) {
      for (let j = v.confIdx.length - 1; j >= 0 && v.confIdx[j] > c; j--) out.push(this.confOfKey.get(v.keys[v.confIdx[j] - 1])!);
    }
    return out;
  }

  /** The configuration of the latest committed conf entry (the seed if none). */
  committedConf(): ConfState {
    const k = this.committedConfIdx[this.committedConfIdx.length - 1];
    return k === undefined ? this.seed : this.confOfKey.get(this.committedKeys[k])!;
  }

  /** Highest index known committed by anyone (the global committed prefix is [1, this]). */
  committedIndex(): number {
    return this.committedKeys.length - 1;
  }

  /** The key of the committed entry at `index`, or undefined if not (yet) known committed. */
  committedKey(index: number): string | undefined {
    return this.committedKeys[index];
  }

  view(node: NodeId): NodeView {
    let v = this.nodes.get(node);
    if (!v) {
      v = { keys: [], terms: [], commit: 0, applied: 0, term: 0, leaderTerm: 0, alive: true, confIdx: [], recovering: false };
      this.nodes.set(node, v);
    }
    return v;
  }

  /** The reference state at committed index `index`, or undefined if not known committed. */
  referenceState(index: number): number | undefined {
    if (index >= this.committedKeys.length) return undefined;
    for (let i = this.refHashes.length; i <= index; i++) this.refHashes.push(stateHash(this.refHashes[i - 1], this.committedKeys[i]));
    return this.refHashes[index];
  }

  /** The node's log as entry keys (index i at [i - 1]), for tests and traces. */
  logKeys(node: NodeId): readonly string[] {
    return this.view(node).keys;
  }

  observe(o: Observation): Violation | null {
    switch (o.k) {
      case 'role':
        return this.onRole(o.node, o.term, o.role);
      case 'leaderMsg':
        return this.onLeaderSeen(o.node, o.term);
      case 'vote':
        return this.onVote(o.voter, o.term, o.candidate);
      case 'log':
        return this.onLog(o.node, o.entries);
      case 'commit':
        return this.onCommit(o.node, o.term, o.commit);
      case 'apply':
        return this.onApply(o.node, o.entries, o.hash);
      case 'snapshot':
        return this.onSnapshot(o.node, o.index, o.term, o.hash);
      case 'crash': {
        const v = this.view(o.node);
        v.alive = false;
        v.leaderTerm = 0;
        return null;
      }
      case 'restart':
        return this.onRestart(o);
      case 'ack':
        return this.onAck(o.node, o.term, o.proposal);
    }
  }

  private fail(invariant: Invariant, message: string): Violation {
    return { invariant, message };
  }

  private onTerm(node: NodeId, v: NodeView, term: number): Violation | null {
    if (term < v.term) return this.fail('term-monotonic', `${node} went from term ${v.term} back to ${term}`);
    v.term = term;
    return null;
  }

  private onLeaderSeen(node: NodeId, term: number): Violation | null {
    const prev = this.leaders.get(term);
    if (prev === undefined) {
      this.leaders.set(term, node);
      this.elections++;
      return null;
    }
    if (prev !== node) return this.fail('election-safety', `two leaders in term ${term}: ${prev} and ${node}`);
    return null;
  }

  private onRole(node: NodeId, term: number, role: Role): Violation | null {
    const v = this.view(node);
    const bad = this.onTerm(node, v, term);
    if (bad) return bad;
    if (role !== Role.Leader) {
      v.leaderTerm = 0;
      return null;
    }
    const dup = this.onLeaderSeen(node, term);
    if (dup) return dup;
    if (v.leaderTerm === term) return null;
    v.leaderTerm = term;
    // Leader Completeness: everything committed in an earlier term is in the new leader's log.
    for (let i = 1; i < this.committedKeys.length; i++) {
      if (this.committedAt[i] < term && v.keys[i - 1] !== this.committedKeys[i]) {
        return this.fail(
          'leader-completeness',
          `${node} became leader of term ${term} without committed entry ${i} (${this.committedKeys[i]}, committed by term ${this.committedAt[i]}); it has ${v.keys[i - 1] ?? 'nothing'}`,
        );
      }
    }
    for (const a of this.acks) {
      if (a.boundTerm < term) {
        const bad2 = this.checkAckIn(node, v, a);
        if (bad2) return bad2;
      }
    }
    return null;
  }

  private onVote(voter: NodeId, term: number, candidate: NodeId): Violation | null {
    const key = `${term}/${voter}`;
    const prev = this.votes.get(key);
    if (prev === undefined) this.votes.set(key, candidate);
    else if (prev !== candidate) {
      return this.fail('vote-once', `${voter} voted for ${prev} and for ${candidate} in term ${term}`);
    }
    return null;
  }

  private onLog(node: NodeId, entries: readonly Entry[]): Violation | null {
    if (entries.length === 0) return null;
    const v = this.view(node);
    const first = entries[0].index;
    const oldLast = v.keys.length;
    if (first < 1 || first > oldLast + 1) {
      return this.fail('log-matching', `${node} wrote entries from ${first} but its log ends at ${oldLast} (a gap)`);
    }
    if (v.leaderTerm > 0 && first <= oldLast) {
      return this.fail('leader-append-only', `${node}, leader of term ${v.leaderTerm}, overwrote its log from ${first} (last ${oldLast})`);
    }
    const newLast = first + entries.length - 1;
    if (newLast < v.commit) {
      return this.fail('committed-stable', `${node} truncated its log to ${newLast} below its commit index ${v.commit}`);
    }
    v.keys.length = first - 1;
    v.terms.length = first - 1;
    while (v.confIdx.length > 0 && v.confIdx[v.confIdx.length - 1] >= first) v.confIdx.pop();
    let confs = false;
    for (let j = 0; j < entries.length; j++) {
      const e = entries[j];
      const i = first + j;
      if (e.index !== i) return this.fail('log-matching', `${node} wrote a non-contiguous batch: ${e.index} where ${i} was due`);
      const key = entryKey(e);
      const prevTerm = i === 1 ? 0 : v.terms[i - 2];
      if (e.term < prevTerm) {
        return this.fail('log-matching', `${node} log terms decrease: entry ${i} has term ${e.term} after term ${prevTerm}`);
      }
      if (i <= v.commit && this.committedKeys[i] !== undefined && key !== this.committedKeys[i]) {
        return this.fail('committed-stable', `${node} overwrote committed entry ${i} (${this.committedKeys[i]}) with ${key}`);
      }
      let byTerm = this.registry[i];
      if (!byTerm) {
        byTerm = new Map();
        this.registry[i] = byTerm;
      }
      const reg = byTerm.get(e.term);
      if (reg === undefined) byTerm.set(e.term, { key, prevTerm });
      else if (reg.key !== key || reg.prevTerm !== prevTerm) {
        return this.fail(
          'log-matching',
          `${node} has at ${i} term ${e.term} entry ${key} after term ${prevTerm}; another log has ${reg.key} after term ${reg.prevTerm}`,
        );
      }
      v.keys.push(key);
      v.terms.push(e.term);
      if (e.type === EntryType.ConfChange) {
        if (!this.confOfKey.has(key)) this.confOfKey.set(key, decodeConfChangeEntry(e.data).conf);
        v.confIdx.push(i);
        confs = true;
      }
    }
    return (confs ? this.checkConfInFlight(node, v) : null) ?? this.checkConfMajority(first);
  }

  /** The latest committed configuration and those after the commit index in `v`'s log differ
   *  pairwise by at most one voter. */
  private checkConfInFlight(node: NodeId, v: NodeView): Violation | null {
    const c = this.committedIndex();
    const confs: ConfState[] = [];
    if (this.committedConfIdx.length > 0 || this.seed.voters.length > 0) confs.push(this.committedConf());
    for (const i of v.confIdx) if (i > c) confs.push(this.confOfKey.get(v.keys[i - 1])!);
    for (let a = 0; a < confs.length; a++) {
      for (let b = a + 1; b < confs.length; b++) {
        const va = confs[a].voters;
        const vb = confs[b].voters;
        const diff = va.filter((x) => !vb.includes(x)).length + vb.filter((x) => !va.includes(x)).length;
        if (diff > 1) {
          return this.fail('conf-in-flight', `${node}'s log holds configurations ${JSON.stringify(va)} and ${JSON.stringify(vb)} in flight (committed up to ${c}): ${diff} voters apart`);
        }
      }
    }
    return null;
  }

  /** The latest committed conf entry is held by a majority of its voters (see Invariant). Only
   *  a write from `from` or below can take it away. */
  private checkConfMajority(from: number): Violation | null {
    const k = this.committedConfIdx[this.committedConfIdx.length - 1];
    if (k === undefined || from > k) return null;
    const conf = this.committedConf();
    const key = this.committedKeys[k];
    let holders = 0;
    for (const id of conf.voters) {
      const v = this.nodes.get(id);
      if (v !== undefined && (v.keys[k - 1] === key || v.recovering)) holders++;
    }
    if (holders >= Math.floor(conf.voters.length / 2) + 1) return null;
    return this.fail('conf-majority', `committed conf entry ${k} (${JSON.stringify(conf.voters)}) is held by only ${holders} of its voters`);
  }

  private onCommit(node: NodeId, term: number, commit: number): Violation | null {
    const v = this.view(node);
    const bad = this.onTerm(node, v, term);
    if (bad) return bad;
    if (commit < v.commit) return this.fail('commit-monotonic', `${node} commit index went from ${v.commit} back to ${commit}`);
    if (commit > v.keys.length) {
      return this.fail('committed-stable', `${node} commit index ${commit} is beyond its log (last ${v.keys.length})`);
    }
    for (let i = v.commit + 1; i <= commit; i++) {
      const key = v.keys[i - 1];
      const known = this.committedKeys[i];
      if (known === undefined) {
        if (i > this.committedKeys.length) {
          // Cannot happen: node commits are prefixes. Keep the prefix dense anyway.
          return this.fail('committed-stable', `${node} committed ${i} but the global committed prefix ends at ${this.committedIndex()}`);
        }
        this.committedKeys[i] = key;
        this.committedAt[i] = term;
        if (this.confOfKey.has(key) && keyTypeIsConf(key)) {
          this.committedConfIdx.push(i);
          const bad = this.checkConfMajority(0);
          if (bad) return bad;
        }
      } else if (known !== key) {
        return this.fail('committed-stable', `${node} committed ${key} at ${i} where ${known} was committed before`);
      } else if (term < this.committedAt[i]) {
        this.committedAt[i] = term;
      } else continue;
      // The index is now known committed by `term`: every current leader of a later term has it.
      for (const [other, ov] of this.nodes) {
        if (ov.leaderTerm > this.committedAt[i] && ov.keys[i - 1] !== this.committedKeys[i]) {
          return this.fail(
            'leader-completeness',
            `${other}, leader of term ${ov.leaderTerm}, lacks entry ${i} (${this.committedKeys[i]}) committed by term ${this.committedAt[i]}`,
          );
        }
      }
    }
    v.commit = commit;
    return null;
  }

  /** Checks a state machine state `hash` at `index` against the reference. */
  private checkState(node: NodeId, what: string, index: number, hash: number): Violation | null {
    const want = this.referenceState(index);
    if (want === undefined) return this.fail('snapshot-state', `${node} ${what} at ${index}, which is not known committed (committed prefix ends at ${this.committedIndex()})`);
    if (want !== hash) return this.fail('snapshot-state', `${node} ${what} at ${index} with state ${hash}; the committed prefix gives ${want}`);
    return null;
  }

  /** Fills the node's view of its log up to `index` with the committed prefix (see the header). */
  private takeCommittedPrefix(node: NodeId, v: NodeView, index: number, term: number, what: string): Violation | null {
    if (index > this.committedIndex()) {
      return this.fail('snapshot-state', `${node} ${what} at ${index} beyond the committed prefix (ends at ${this.committedIndex()})`);
    }
    if (index > 0 && keyTerm(this.committedKeys[index]) !== term) {
      return this.fail('snapshot-state', `${node} ${what} at ${index} of term ${term}; the committed entry there is ${this.committedKeys[index]}`);
    }
    v.keys = this.committedKeys.slice(1, index + 1);
    v.terms = v.keys.map(keyTerm);
    v.confIdx = this.committedConfIdx.filter((i) => i <= index);
    return null;
  }

  private onSnapshot(node: NodeId, index: number, term: number, hash: number): Violation | null {
    const v = this.view(node);
    if (index < v.commit) {
      return this.fail('committed-stable', `${node} installed a snapshot at ${index} below its commit index ${v.commit}: its log loses committed entries`);
    }
    if (index < v.applied) {
      return this.fail('state-machine-safety', `${node} installed a snapshot at ${index} below its applied index ${v.applied}: its state goes back`);
    }
    const bad = this.takeCommittedPrefix(node, v, index, term, 'installed a snapshot') ?? this.checkState(node, 'installed a snapshot', index, hash);
    if (bad) return bad;
    v.commit = index;
    v.applied = index;
    return null;
  }

  private onApply(node: NodeId, entries: readonly Entry[], hash?: number): Violation | null {
    const v = this.view(node);
    for (const e of entries) {
      if (e.index !== v.applied + 1) {
        return this.fail('state-machine-safety', `${node} applied ${e.index} after ${v.applied} (apply order must be contiguous)`);
      }
      if (e.index > v.commit) return this.fail('state-machine-safety', `${node} applied ${e.index} beyond its commit index ${v.commit}`);
      const key = entryKey(e);
      if (v.keys[e.index - 1] !== key) {
        return this.fail('state-machine-safety', `${node} applied ${key} at ${e.index} but its log has ${v.keys[e.index - 1]}`);
      }
      const known = this.appliedKeys[e.index];
      if (known === undefined) this.appliedKeys[e.index] = key;
      else if (known !== key) {
        return this.fail('state-machine-safety', `${node} applied ${key} at ${e.index}; another node applied ${known}`);
      }
      if (this.committedKeys[e.index] !== undefined && this.committedKeys[e.index] !== key) {
        return this.fail('state-machine-safety', `${node} applied ${key} at ${e.index}; ${this.committedKeys[e.index]} is committed there`);
      }
      v.applied = e.index;
    }
    if (hash !== undefined && entries.length > 0) return this.checkState(node, 'applied', v.applied, hash);
    return null;
  }

  /**
   * Entries a node wrote that died with it (its write was not durable) and that reached nobody
   * (no other log holds them, no message in flight carries them) never existed: Log Matching no
   * longer binds them. A single voter elects itself with no vote to wait for, so a crash that
   * loses its new term's hard state and entries together lets it lead that term again, with
   * other entries (harmless: nothing of the first time left the node or was acknowledged).
   */
  private forgetLost(node: NodeId, oldKeys: readonly string[], durableLast: number, inFlight: ReadonlySet<string>): void {
    for (let i = durableLast + 1; i <= oldKeys.length; i++) {
      const key = oldKeys[i - 1];
      const term = keyTerm(key);
      if (inFlight.has(`${i}/${term}`)) continue;
      let elsewhere = false;
      for (const [other, ov] of this.nodes) if (other !== node && ov.keys[i - 1] === key) elsewhere = true;
      if (!elsewhere && this.registry[i]?.get(term)?.key === key) {
        this.registry[i]!.delete(term);
        this.forgotten.add(`${i}/${key}`);
      }
    }
  }

  /** Whether the entry `key` at `index` died with its writer and reached nobody (forgetLost). */
  wasForgotten(index: number, key: string): boolean {
    return this.forgotten.has(`${index}/${key}`);
  }

  private onRestart(o: Extract<Observation, { k: 'restart' }>): Violation | null {
    const v = this.view(o.node);
    if (o.entriesInFlight !== undefined) this.forgetLost(o.node, v.keys, (o.snapshot?.index ?? 0) + o.log.length, o.entriesInFlight);
    v.alive = true;
    v.leaderTerm = 0;
    v.keys = [];
    v.terms = [];
    v.confIdx = [];
    v.recovering = o.recovering === true;
    v.commit = 0;
    v.applied = 0;
    const snap = o.snapshot ?? { index: 0, term: 0 };
    if (snap.index > 0) {
      const bad = this.takeCommittedPrefix(o.node, v, snap.index, snap.term, 'restarted over a snapshot');
      if (bad) return bad;
    }
    for (let i = 0; i < o.log.length; i++) {
      const e = o.log[i];
      if (e.index !== snap.index + i + 1) return this.fail('log-matching', `${o.node} restarted with entry ${e.index} at position ${snap.index + i + 1}`);
      const key = entryKey(e);
      v.keys.push(key);
      v.terms.push(e.term);
      if (e.type === EntryType.ConfChange) {
        if (!this.confOfKey.has(key)) this.confOfKey.set(key, decodeConfChangeEntry(e.data).conf);
        v.confIdx.push(e.index);
      }
    }
    const lost = this.checkConfMajority(0);
    if (lost) return lost;
    // The in-memory term may have been ahead of the durable one if nothing was promised in it
    // (vote-once and election-safety check the promises). Restart from the durable term.
    v.term = o.term;
    if (o.commit > o.durableCommit) {
      return this.fail('commit-monotonic', `${o.node} restarted at commit ${o.commit} above its durable commit ${o.durableCommit}`);
    }
    if (o.applied > o.commit) return this.fail('state-machine-safety', `${o.node} restarted with applied ${o.applied} > commit ${o.commit}`);
    const bad = this.onCommit(o.node, o.term, o.commit);
    if (bad) return bad;
    v.applied = o.applied;
    if (o.stateHash !== undefined && o.applied > 0) return this.checkState(o.node, 'restarted its state machine', o.applied, o.stateHash);
    return null;
  }

  private checkAckIn(node: NodeId, v: NodeView, a: Ack): Violation | null {
    for (let j = 0; j < a.keys.length; j++) {
      const i = a.firstIndex + j;
      if (v.keys[i - 1] !== a.keys[j]) {
        return this.fail(
          'acked-durable',
          `${node}, leader of term ${v.leaderTerm}, lacks acknowledged entry ${i} (${a.keys[j]}, acked by ${a.node} at term ${a.boundTerm}); it has ${v.keys[i - 1] ?? 'nothing'}`,
        );
      }
    }
    return null;
  }

  private onAck(node: NodeId, term: number, p: AckedProposal): Violation | null {
    const keys: string[] = [];
    for (let j = 0; j < p.data.length; j++) keys.push(`${p.term}/0/${dataKey(p.data[j])}`);
    const a: Ack = { ...p, keys, boundTerm: term, node };
    this.acks.push(a);
    for (const [other, ov] of this.nodes) {
      if (ov.leaderTerm > term) {
        const bad = this.checkAckIn(other, ov, a);
        if (bad) return bad;
      }
    }
    return null;
  }
}

/** The pure form: folds a history through a fresh checker and returns every violation found. */
export function checkHistory(history: readonly Observation[]): Violation[] {
  const c = new SafetyChecker();
  const out: Violation[] = [];
  for (const o of history) {
    const v = c.observe(o);
    if (v) out.push(v);
  }
  return out;
}
