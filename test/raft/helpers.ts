// A tiny in-memory network of RaftNodes for tests (etcd's `network`): synchronous delivery,
// with cut/isolate/drop/recover. Each node persists to its own MemoryStorage before sending
// persistedMessages, exactly as a real driver must.

import {
  MemoryStorage,
  RaftNode,
  type Entry,
  type Message,
  type NodeId,
  type ConfChange,
  type ProposeResult,
  type RaftConfig,
  type Ready,
  type ReadState,
  DEFAULT_RAFT_CONFIG,
  EntryType,
  MessageType,
  Role,
} from '../../src/raft/index.ts';

export interface TestNode {
  readonly id: NodeId;
  node: RaftNode;
  storage: MemoryStorage;
  config: RaftConfig;
  /** Every committed entry handed out, in order. */
  applied: Entry[];
  /** Every Ready handed out (for ordering checks). */
  readies: Ready[];
  /** Every ReadState handed out. */
  reads: ReadState[];
}

export function ids(n: number): NodeId[] {
  return Array.from({ length: n }, (_, i) => `n${i}`);
}

export function makeConfig(id: NodeId, peers: readonly NodeId[], overrides: Partial<RaftConfig> = {}): RaftConfig {
  return { ...DEFAULT_RAFT_CONFIG, id, peers, seed: 1 + peers.indexOf(id) * 7919, ...overrides };
}

export function bytes(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

export function text(e: Entry): string {
  return new TextDecoder().decode(e.data);
}

export class Network {
  readonly nodes = new Map<NodeId, TestNode>();
  private readonly cuts = new Set<string>();
  private readonly dropTypes = new Set<MessageType>();
  /** Extra filter: return false to drop a message. */
  filter: ((m: Message) => boolean) | null = null;
  /** Rewrites a message in flight (after filtering). */
  rewrite: ((m: Message) => Message) | null = null;
  /** Every message delivered (after filtering). */
  delivered: Message[] = [];
  keepReadies = false;
  /** Report each Snapshot message's fate to its sender (reportSnapshot), as a transport does. */
  reportSnapshots = true;

  constructor(peerIds: readonly NodeId[], overrides: Partial<RaftConfig> | ((id: NodeId) => Partial<RaftConfig>) = {}) {
    for (const id of peerIds) {
      const o = typeof overrides === 'function' ? overrides(id) : overrides;
      const config = makeConfig(id, peerIds, o);
      const storage = new MemoryStorage();
      this.nodes.set(id, { id, node: new RaftNode(config, storage), storage, config, applied: [], readies: [], reads: [] });
    }
  }

  /** A node joining the group: an empty store and an empty seed (it learns the configuration
   *  from the leader). */
  add(id: NodeId, overrides: Partial<RaftConfig> = {}): TestNode {
    const config = makeConfig(id, [], { seed: 4242 + this.nodes.size, ...overrides });
    const storage = new MemoryStorage();
    const n: TestNode = { id, node: new RaftNode(config, storage), storage, config, applied: [], readies: [], reads: [] };
    this.nodes.set(id, n);
    return n;
  }

  /** Proposes a conf change at `id` and stabilizes. */
  confChange(id: NodeId, op: ConfChange['op'], node: NodeId, force = false): ProposeResult {
    const r = this.node(id).proposeConfChange({ op, node, context: `addr-of-${node}` }, { force });
    this.stabilize();
    return r;
  }

  get(id: NodeId): TestNode {
    const n = this.nodes.get(id);
    if (n === undefined) throw new Error(`no node ${id}`);
    return n;
  }

  node(id: NodeId): RaftNode {
    return this.get(id).node;
  }

  cut(a: NodeId, b: NodeId): void {
    this.cuts.add(`${a}>${b}`);
    this.cuts.add(`${b}>${a}`);
  }

  isolate(a: NodeId): void {
    for (const id of this.nodes.keys()) if (id !== a) this.cut(a, id);
  }

  drop(type: MessageType): void {
    this.dropTypes.add(type);
  }

  recover(): void {
    this.cuts.clear();
    this.dropTypes.clear();
    this.filter = null;
    this.rewrite = null;
  }

  /** Restarts a node from its storage (volatile state lost). */
  restart(id: NodeId, overrides: Partial<RaftConfig> = {}): void {
    const n = this.get(id);
    n.config = { ...n.config, ...overrides };
    n.node = new RaftNode(n.config, n.storage);
    n.applied = [];
  }

  private passes(m: Message): boolean {
    if (!this.nodes.has(m.to)) return false;
    if (this.cuts.has(`${m.from}>${m.to}`)) return false;
    if (this.dropTypes.has(m.type)) return false;
    if (this.filter !== null && !this.filter(m)) return false;
    return true;
  }

  /** Handles one Ready of `n` the way a correct driver does; returns its outgoing messages. */
  processReady(n: TestNode): Message[] {
    const rd = n.node.ready();
    if (this.keepReadies) n.readies.push(rd);
    const out: Message[] = [...rd.messages];
    // The snapshot is installed first (types.ts, Ready).
    if (rd.snapshot !== null) n.storage.applySnapshot(rd.snapshot);
    if (rd.hardState !== null) n.storage.setHardState(rd.hardState);
    n.storage.append(rd.entries);
    for (const m of rd.persistedMessages) out.push(m);
    for (const e of rd.committedEntries) n.applied.push(e);
    for (const rs of rd.readStates) n.reads.push(rs);
    n.node.advance(rd);
    return out;
  }

  /** Runs readies and delivers messages until nothing is left to do. */
  stabilize(roundsMax = 10_000): void {
    for (let round = 0; round < roundsMax; round++) {
      let busy = false;
      for (const n of this.nodes.values()) {
        if (!n.node.hasReady()) continue;
        busy = true;
        for (const m of this.processReady(n)) this.send(m);
      }
      if (!busy) return;
    }
    throw new Error('network did not stabilize');
  }

  /** Delivers one message (if it passes the filters). */
  send(m: Message): void {
    const report = this.reportSnapshots && m.type === MessageType.Snapshot && this.nodes.has(m.from);
    if (!this.passes(m)) {
      if (report) this.node(m.from).reportSnapshot(m.to, false);
      return;
    }
    if (this.rewrite !== null) m = this.rewrite(m);
    this.delivered.push(m);
    this.get(m.to).node.step(m);
    if (report) this.node(m.from).reportSnapshot(m.to, true);
  }

  tick(id: NodeId, count = 1): void {
    for (let i = 0; i < count; i++) {
      this.node(id).tick();
      this.stabilize();
    }
  }

  tickAll(count = 1): void {
    for (let i = 0; i < count; i++) {
      for (const n of this.nodes.values()) n.node.tick();
      this.stabilize();
    }
  }

  campaign(id: NodeId): void {
    this.node(id).campaign();
    this.stabilize();
  }

  propose(id: NodeId, ...data: string[]) {
    const r = this.node(id).propose(data.map(bytes));
    this.stabilize();
    return r;
  }

  leaders(): NodeId[] {
    const out: NodeId[] = [];
    for (const n of this.nodes.values()) if (n.node.status().role === Role.Leader) out.push(n.id);
    return out;
  }

  /** Ticks everyone until some node is leader (or throws). */
  electLeader(ticksMax = 200): NodeId {
    for (let i = 0; i < ticksMax; i++) {
      const l = this.leaders();
      if (l.length === 1) return l[0];
      this.tickAll();
    }
    throw new Error('no leader elected');
  }
}

/** A message with defaults for the fields a test does not care about. */
export function msg(m: Partial<Message> & Pick<Message, 'type' | 'from' | 'to' | 'term'>): Message {
  return { index: 0, logTerm: 0, commit: 0, entries: [], reject: false, rejectHint: 0, rejectTerm: 0, transfer: false, recovering: false, context: new Uint8Array(0), conf: null, ...m };
}

/** A lone RaftNode (no network) with its storage. */
export function lone(id: NodeId, peers: readonly NodeId[], overrides: Partial<RaftConfig> = {}, storage = new MemoryStorage()) {
  const node = new RaftNode(makeConfig(id, peers, overrides), storage);
  return { node, storage };
}

/** Handles a Ready like a driver (persist, then advance) and returns it. */
export function drain(node: RaftNode, storage: MemoryStorage): Ready {
  const rd = node.ready();
  if (rd.snapshot !== null) storage.applySnapshot(rd.snapshot);
  if (rd.hardState !== null) storage.setHardState(rd.hardState);
  storage.append(rd.entries);
  node.advance(rd);
  return rd;
}

export function entry(index: number, term: number, data = ''): Entry {
  return { index, term, type: EntryType.Normal, data: bytes(data) };
}
