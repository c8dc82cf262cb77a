// Replica <-> replica transport over src/net. Each replica dials every peer (outbound: used to
// send) and accepts every peer (inbound: used to receive). A peer whose connection resets or
// refuses is reported to the driver at once: that, not a timeout, is how a follower learns its
// leader process died, and what makes failover take tens of milliseconds.
import { Connection, listen, WarningSummary, type Server, type ServerConnection, type Frame, type LogFn } from '../net/index.ts';
import { EntryType, MessageType, type Entry, type Message, type NodeId } from '../raft/index.ts';
import { BlobCursor, PEER_PROTOCOL_VERSION, type PeerHello, type PeerNotice, type PeerRaft, type PeerSnapAck, type PeerSnapChunk } from '../protocol/index.ts';
import type { PeerSender } from './replica-options.ts';
import { tracing } from '../trace/index.ts';
import { traceMessages } from './trace-messages.ts';
import { MEMBER_COUNT_MAX, NODE_ID_PATTERN, addressProblem, splitAddress } from './membership.ts';

export interface PeerAddress {
  readonly id: NodeId;
  readonly host: string;
  readonly port: number;
}

export interface PeerTransportOptions {
  readonly group: string;
  readonly self: PeerAddress;
  /** The peers at start (dLegerPeers, or the configuration the store holds); setPeers changes them. */
  readonly peers: readonly PeerAddress[];
  /** The log index of the configuration in force (0: the dLegerPeers seed), told in the hello:
   *  the seed lists of two replicas must name the same ids, later configurations come from the
   *  log and may differ for a while. Absent: 0. */
  readonly configIndex?: () => number;
  /** Whether a caller that is no peer of ours is taken anyway (and dialled back at the address
   *  its hello gives): while this replica joins a group and knows no configuration, the master
   *  may be one that dLegerPeers does not name. Absent: never. */
  readonly acceptUnknown?: () => boolean;
  /** Our client listener, announced in the hello. */
  readonly clientAddr: string;
  readonly log: LogFn;
  readonly onMessages: (messages: Message[]) => void;
  readonly onPeerDown: (peer: NodeId, reason: string) => void;
  /** Messages for `peer` could not be queued (its send queue is full, or it is not connected):
   *  they are lost, as on a lossy link; the leader should probe that peer again. */
  readonly onSendFailed: (peer: NodeId, reason: string) => void;
  /** A peer announced its client address (for NOT_MASTER hints). */
  readonly onPeerClientAddr: (peer: NodeId, addr: string) => void;
  /** A snapshot chunk from the master: the acknowledgement to send back, or why the chunk is
   *  malformed (the connection closes). Absent: chunks close the connection. */
  readonly onSnapChunk?: (from: NodeId, frame: PeerSnapChunk, data: Uint8Array) => PeerSnapAck | string;
  /** A follower acknowledged snapshot chunks. */
  readonly onSnapAck?: (from: NodeId, ack: PeerSnapAck) => void;
  /** A member told us we were removed from the group at log index `index`. */
  readonly onRemoved?: (from: NodeId, index: number) => void;
  /** The log index of the configuration entry that removed `peer` (null: it was not): a removed
   *  replica that calls is told so. */
  readonly removedAt?: (peer: NodeId) => number | null;
}

const PEER_FRAME_TYPES: ReadonlySet<string> = new Set(['hello', 'raft', 'notice', 'snap']);
/** A peer whose connection stays down this long is named in a warning (with its address). */
const PEER_UNREACHABLE_WARN_AFTER_MS = 5000;
/** At most one summary line per this interval for each kind of recurring peer warning. */
const PEER_WARNING_INTERVAL_MS = 10_000;
/** Characters of a peer's notice that are logged. */
const NOTICE_CHARS_MAX = 1000;
/** Outbound reconnects: quick first retry so a restarted peer is back within tens of ms. */
const PEER_BACKOFF_MS_MIN = 20;
const PEER_BACKOFF_MS_MAX = 500;
/** Bytes queued for one peer (ours and the socket's) beyond which frames are dropped: what a
 *  peer that stopped reading costs this replica (Raft resends what matters). Holds the leader's
 *  in-flight window (RaftConfig.maxInflightBytesPerFollower) with room for heartbeats. */
export const PEER_SEND_QUEUE_BYTES_MAX = 48 * 1024 * 1024;
/** A frame to a peer carries messages up to about this many bytes on the wire; more messages
 *  go in further frames (one message is never split: its entries are bounded by
 *  RaftConfig.maxBytesPerMessage, or it is one entry, and one entry fits a frame). */
export const PEER_FRAME_BYTES_TARGET = 4 * 1024 * 1024;
/** Wire bytes of a message besides its entry bodies, and of each entry besides its body (msgpack
 *  field names and numbers), counted generously. */
const MESSAGE_WIRE_OVERHEAD_BYTES = 256;
const ENTRY_WIRE_OVERHEAD_BYTES = 64;

/** An entry on the wire: its body is the next `size` bytes of the frame's blobs. */
interface WireEntry {
  readonly index: number;
  readonly term: number;
  readonly type: EntryType;
  readonly size: number;
}

const EMPTY_BLOBS = Buffer.alloc(0);

function wireEntry(e: Entry, blobs: Uint8Array[]): WireEntry {
  if (e.data.byteLength > 0) blobs.push(e.data);
  return { index: e.index, term: e.term, type: e.type, size: e.data.byteLength };
}

/** An upper bound of the bytes `m` takes in a frame. */
export function messageWireBytes(m: Message): number {
  let bytes = MESSAGE_WIRE_OVERHEAD_BYTES;
  for (let i = 0; i < m.entries.length; i++) bytes += ENTRY_WIRE_OVERHEAD_BYTES + m.entries[i].data.byteLength;
  return bytes;
}

/** The raft frame of `messages`. Entry bodies become the frame's raw blobs, not msgpack: they
 *  leave in the same writev as the frame and are never copied on the way out. */
function raftFrame(messages: readonly Message[]): { frame: PeerRaft; blobs: Uint8Array[] } {
  const blobs: Uint8Array[] = [];
  // Object.assign, not `{ ...m, entries }` (see Connection.request).
  const msgs = messages.map((m) => (m.entries.length === 0 ? m : Object.assign({}, m, { entries: m.entries.map((e) => wireEntry(e, blobs)) })));
  return { frame: { type: 'raft', id: 0, msgs: msgs as unknown as Message[] }, blobs };
}

/** Splits one turn's messages to a peer into frames of about `targetBytes` each, in order; a
 *  message larger than that goes alone. */
export function splitIntoFrames(messages: readonly Message[], targetBytes: number = PEER_FRAME_BYTES_TARGET): (readonly Message[])[] {
  if (messages.length === 1) return [messages];
  const frames: Message[][] = [];
  let current: Message[] = [];
  let bytes = 0;
  for (const m of messages) {
    const size = messageWireBytes(m);
    if (current.length > 0 && bytes + size > targetBytes) {
      frames.push(current);
      current = [];
      bytes = 0;
    }
    current.push(m);
    bytes += size;
  }
  if (current.length > 0) frames.push(current);
  return frames;
}

const MESSAGE_TYPES: ReadonlySet<string> = new Set(Object.values(MessageType));
const isCount = (v: unknown): boolean => Number.isSafeInteger(v) && (v as number) >= 0;

/** Why a decoded wire message is not a well-formed Raft message, or null. */
export function wireMessageProblem(m: Message): string | null {
  if (!MESSAGE_TYPES.has(m.type)) return `unknown type ${JSON.stringify(m.type)?.slice(0, 32)}`;
  for (const k of ['term', 'index', 'logTerm', 'commit', 'rejectHint', 'rejectTerm'] as const) {
    if (!isCount(m[k])) return `${k} is not a non-negative integer`;
  }
  if (typeof m.reject !== 'boolean' || typeof m.transfer !== 'boolean' || typeof m.recovering !== 'boolean') return 'reject/transfer/recovering are not booleans';
  if (!Array.isArray(m.entries)) return 'no entries list';
  if (!(m.context instanceof Uint8Array) || m.context.byteLength > MESSAGE_CONTEXT_BYTES_MAX) return 'context is not a byte string of at most 64 bytes';
  const conf = m.conf === null ? null : confProblem(m.conf);
  if (conf !== null) return `conf: ${conf}`;
  for (let i = 0; i < m.entries.length; i++) {
    const w = m.entries[i] as unknown as WireEntry;
    if (w === null || typeof w !== 'object') return `entry ${i} is not an object`;
    if (!Number.isSafeInteger(w.index) || w.index < 1 || !isCount(w.term)) return `entry ${i} has a bad index or term`;
    if (w.type !== EntryType.Normal && w.type !== EntryType.NoOp && w.type !== EntryType.ConfChange) return `entry ${i} has an unknown type`;
    if (!isCount(w.size)) return `entry ${i} has a bad size`;
  }
  return null;
}

/** Bytes of a Raft message's context (a linearizable read's id). */
const MESSAGE_CONTEXT_BYTES_MAX = 64;

function confProblem(conf: unknown): string | null {
  if (conf === null || typeof conf !== 'object') return 'not an object';
  const { voters, learners } = conf as { voters?: unknown; learners?: unknown };
  const ids = (v: unknown) => Array.isArray(v) && v.length <= MEMBER_COUNT_MAX && v.every((id) => typeof id === 'string' && NODE_ID_PATTERN.test(id));
  return ids(voters) && ids(learners) ? null : 'voters and learners are not lists of node ids';
}

/** The canonical form of a peer list (PeerHello.peers): `id-host:port` sorted by id. */
export function peerListDigest(peers: readonly PeerAddress[]): string {
  return [...peers]
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    .map((p) => `${p.id}-${p.host}:${p.port}`)
    .join(';');
}

/** The sorted ids of a peer list digest (peerListDigest's form, or a peer's claim of it). */
export function peerIdsOf(digest: string): string {
  return digest
    .slice(0, 4096)
    .split(';')
    .map((p) => p.slice(0, Math.max(0, p.indexOf('-'))))
    .sort()
    .join(',');
}

export class PeerTransport implements PeerSender {
  private readonly opts: PeerTransportOptions;
  private readonly outbound = new Map<NodeId, Connection>();
  /** The connection each peer opened to us (after a valid hello): replies go back on it when our
   *  own connection to that peer is down (a mistyped address on one side, a one-way firewall). */
  private readonly inbound = new Map<NodeId, ServerConnection>();
  /** Every peer we connect to and accept (the configuration's members, or the seed's). */
  private readonly peers = new Map<NodeId, PeerAddress>();
  private readonly ownPeers: string;
  /** peerIdsOf(ownPeers): a hello whose list names other ids is refused. */
  private readonly ownPeerIds: string;
  private server: Server | null = null;
  private closed = false;
  private readonly warnings: PeerWarnings;
  /** When each peer's outbound connection went down (absent: up, or never tried). */
  private readonly downSince = new Map<NodeId, number>();

  constructor(opts: PeerTransportOptions) {
    this.opts = opts;
    for (const p of opts.peers) this.peers.set(p.id, p);
    this.ownPeers = peerListDigest([opts.self, ...opts.peers]);
    this.ownPeerIds = peerIdsOf(this.ownPeers);
    this.warnings = new PeerWarnings(opts.log);
  }

  /** Outbound connections to peers that are up now. */
  get connectedPeerCount(): number {
    let up = 0;
    for (const conn of this.outbound.values()) if (conn.state === 'up') up++;
    return up;
  }

  async start(): Promise<void> {
    const { self, log } = this.opts;
    this.server = await listen(
      { host: self.host, port: self.port, log, frameTypes: PEER_FRAME_TYPES, connPendingBytesMax: PEER_SEND_QUEUE_BYTES_MAX },
      (frame, conn) => this.onInbound(frame, conn),
    );
    for (const peer of this.peers.values()) this.dial(peer);
  }

  /** The peers now (a membership change): new ones are dialled, gone ones hung up on, one whose
   *  address changed is dialled at the new one. */
  setPeers(peers: readonly PeerAddress[]): void {
    if (this.closed) return;
    const next = new Map(peers.filter((p) => p.id !== this.opts.self.id).map((p) => [p.id, p]));
    for (const [id, old] of this.peers) {
      const now = next.get(id);
      if (now !== undefined && now.host === old.host && now.port === old.port) continue;
      this.peers.delete(id);
      this.downSince.delete(id);
      const out = this.outbound.get(id);
      this.outbound.delete(id);
      void out?.close();
      this.inbound.get(id)?.close(`${id} left the configuration or moved`);
      this.inbound.delete(id);
    }
    for (const [id, p] of next) {
      if (this.peers.has(id)) continue;
      this.peers.set(id, p);
      if (this.server !== null) this.dial(p);
    }
  }

  /** Ids of the peers now. */
  get peerIds(): NodeId[] {
    return [...this.peers.keys()];
  }

  private dial(peer: PeerAddress): void {
    const self = this.opts.self;
    const conn = new Connection({
      host: peer.host,
      port: peer.port,
      reconnect: 'auto',
      backoffMsMin: PEER_BACKOFF_MS_MIN,
      backoffMsMax: PEER_BACKOFF_MS_MAX,
      sendQueueBytesMax: PEER_SEND_QUEUE_BYTES_MAX,
      hello: (): PeerHello => ({
        type: 'hello',
        id: 0,
        protocol: PEER_PROTOCOL_VERSION,
        group: this.opts.group,
        nodeId: self.id,
        clientAddr: this.opts.clientAddr,
        peers: this.ownPeers,
        configIndex: this.opts.configIndex?.() ?? 0,
        peerAddr: `${self.host}:${self.port}`,
      }),
      onUp: () => this.downSince.delete(peer.id),
      onDown: (reason) => {
        if (this.closed || this.outbound.get(peer.id) !== conn) return;
        const since = this.downSince.get(peer.id) ?? Date.now();
        this.downSince.set(peer.id, since);
        if (Date.now() - since >= PEER_UNREACHABLE_WARN_AFTER_MS) {
          this.warnings.unreachable.note('unreachable', `${peer.id} at ${peer.host}:${peer.port}`, { reason, downMs: Date.now() - since });
        }
        this.reportIfCutOff(peer.id, `outbound: ${reason}`);
      },
      onFrame: (frame) => this.onOutboundFrame(peer, frame),
    });
    this.outbound.set(peer.id, conn);
    conn.connect().catch(() => {
      // reconnect: 'auto' keeps trying; onDown already told the driver
    });
  }

  send(to: NodeId, messages: Message[]): void {
    const out = this.outbound.get(to);
    if (out === undefined) return;
    const back = out.state === 'up' ? undefined : this.inbound.get(to);
    for (const list of splitIntoFrames(messages)) {
      // A frame that cannot be built or queued is this peer's problem, never the replica's:
      // its messages are lost as on a lossy link, and the leader probes the peer again.
      let problem: string | null = null;
      try {
        const { frame, blobs } = raftFrame(list);
        const queued = back !== undefined ? back.send(frame, blobs) : out.send(frame, blobs);
        if (!queued) problem = back !== undefined ? 'send queue full (replying on its connection)' : out.state === 'up' ? 'send queue full' : `not connected (${out.state})`;
      } catch (err) {
        problem = `frame not built: ${(err as Error).message}`;
      }
      if (problem !== null) {
        // Not connected either way: onPeerDown said so already.
        if (out.state === 'up' || back !== undefined) this.opts.onSendFailed(to, problem);
        return; // the rest would follow a gap: dropped too
      }
    }
  }

  /** Queues one snapshot chunk to `to` (on our connection to it, or back on its connection to us);
   *  false when it cannot be queued. */
  sendSnapChunk(to: NodeId, frame: PeerSnapChunk, data: Uint8Array): boolean {
    const out = this.outbound.get(to);
    if (out === undefined) return false;
    const back = out.state === 'up' ? undefined : this.inbound.get(to);
    return back !== undefined ? back.send(frame, [data]) : out.send(frame, [data]);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.warnings.close();
    await Promise.all([...this.outbound.values()].map((c) => c.close()));
    this.outbound.clear();
    await this.server?.close();
  }

  /** Tells the driver a peer is gone, once neither connection to it is up: a peer reachable one
   *  way (replies go back on its connection) is not cut off. */
  private reportIfCutOff(peer: NodeId, reason: string): void {
    if (this.closed) return;
    const out = this.outbound.get(peer);
    const back = this.inbound.get(peer);
    if ((out !== undefined && out.state === 'up') || (back !== undefined && !back.closed)) return;
    this.opts.onPeerDown(peer, reason);
  }

  private onInbound(frame: Frame, conn: ServerConnection): void {
    if (frame.type === 'hello') {
      this.onHello(frame as unknown as PeerHello, conn);
      return;
    }
    const from = conn.context as NodeId | undefined;
    if (frame.type === 'notice') {
      if (from !== undefined && this.tookRemoval(from, frame as unknown as PeerNotice)) return;
      conn.close('a notice is not for this side');
      return;
    }
    if (from === undefined) {
      conn.close(`${frame.type} frame before hello`);
      return;
    }
    if (frame.type === 'snap') {
      this.acceptSnapChunk(from, frame, (reason) => conn.close(reason), (ack) => conn.send(ack));
      return;
    }
    this.acceptRaft(from, frame, (reason) => conn.close(reason));
  }

  /** A snapshot chunk: to the receiver, its acknowledgement back on the same connection. */
  private acceptSnapChunk(from: NodeId, frame: Frame, close: (reason: string) => void, reply: (ack: PeerSnapAck) => void): void {
    const blobs = frame.blobs ?? EMPTY_BLOBS;
    const answer = this.opts.onSnapChunk === undefined ? 'snapshot chunks are not taken here' : this.opts.onSnapChunk(from, frame as unknown as PeerSnapChunk, blobs);
    if (typeof answer === 'string') {
      close(`snapshot chunk from ${from}: ${answer}`);
      return;
    }
    reply(answer);
  }

  private onHello(hello: PeerHello, conn: ServerConnection): void {
    const refuse = (why: string): void => {
      const reason = `hello from ${String(hello.nodeId)} (${conn.remoteAddress}) refused: ${why}`;
      this.warnings.refused.note('hello refused', conn.remoteAddress, { reason });
      // The caller is told why before the connection closes: it logs it.
      const notice: PeerNotice = { type: 'notice', id: 0, reason: `${this.opts.self.id} refused your hello: ${why}` };
      conn.send(notice);
      conn.close(reason);
    };
    if (hello.group !== this.opts.group) {
      refuse(`it is of group ${JSON.stringify(String(hello.group))}, this replica of ${JSON.stringify(this.opts.group)} (dLegerGroup)`);
      return;
    }
    const removedAt = this.opts.removedAt?.(hello.nodeId) ?? null;
    if (removedAt !== null && !this.peers.has(hello.nodeId)) {
      const notice: PeerNotice = { type: 'notice', id: 0, reason: `${this.opts.self.id}: you were removed from the group at log index ${removedAt}`, removedAt };
      conn.send(notice);
      conn.close(`${String(hello.nodeId)} was removed from the group`);
      return;
    }
    if (!this.peers.has(hello.nodeId) && this.opts.acceptUnknown?.() === true && hello.nodeId !== this.opts.self.id && NODE_ID_PATTERN.test(hello.nodeId) && addressProblem(hello.peerAddr) === null) {
      const peer = { id: hello.nodeId, ...splitAddress(hello.peerAddr as string) };
      this.opts.log('info', `joining: took a call from ${peer.id} (${String(hello.peerAddr)}), which dLegerPeers does not name`);
      this.peers.set(peer.id, peer);
      this.dial(peer);
    }
    if (!this.peers.has(hello.nodeId)) {
      refuse(`${JSON.stringify(String(hello.nodeId))} is not a member of this replica's configuration (${[...this.peers.keys()].join(', ')}; dLegerPeers ${this.ownPeers})`);
      return;
    }
    const protocol = hello.protocol;
    if (protocol !== PEER_PROTOCOL_VERSION) {
      // Refused, not misread: replicas of different versions must not exchange Raft traffic.
      refuse(`peer protocol ${String(protocol)}, this replica speaks ${PEER_PROTOCOL_VERSION} (upgrade every replica)`);
      return;
    }
    const theirIds = typeof hello.peers === 'string' ? peerIdsOf(hello.peers) : this.ownPeerIds;
    // Only while both run on the seed: after a membership change dLegerPeers no longer decide.
    const bothSeeded = (hello.configIndex ?? 0) === 0 && (this.opts.configIndex?.() ?? 0) === 0;
    if (bothSeeded && theirIds !== this.ownPeerIds) {
      // Replicas that count majorities of different groups could each elect a master in one
      // term (a stale 3-replica list in a group of 5: 2 of 3 and 3 of 5 need not overlap).
      refuse(`its dLegerPeers name other replicas (${theirIds}; this replica's: ${this.ownPeerIds}): fix broker.conf on the wrong side`);
      return;
    }
    const from = hello.nodeId;
    conn.context = from;
    if (bothSeeded && typeof hello.peers === 'string' && hello.peers !== this.ownPeers) {
      const reason = `dLegerPeers differ: ${from} has ${hello.peers}; ${this.opts.self.id} has ${this.ownPeers}`;
      this.warnings.mismatch.note('dLegerPeers differ', from, { reason });
      const notice: PeerNotice = { type: 'notice', id: 0, reason };
      conn.send(notice);
    }
    if (typeof hello.clientAddr === 'string') this.opts.onPeerClientAddr(from, hello.clientAddr);
    this.inbound.get(from)?.close(`${from} connected again`);
    this.inbound.set(from, conn);
    conn.onClose((reason) => {
      if (this.inbound.get(from) === conn) this.inbound.delete(from);
      this.reportIfCutOff(from, `inbound: ${reason}`);
    });
  }

  /** Tells `peer` it was removed at `index` (on our connection to it; best effort). */
  tellRemoved(peer: NodeId, index: number): void {
    const notice: PeerNotice = { type: 'notice', id: 0, reason: `${this.opts.self.id}: ${peer} was removed from the group at log index ${index}`, removedAt: index };
    this.outbound.get(peer)?.send(notice);
  }

  /** A notice that says we were removed: handed to onRemoved. */
  private tookRemoval(from: NodeId, notice: PeerNotice): boolean {
    if (!Number.isSafeInteger(notice.removedAt) || (notice.removedAt as number) < 1) return false;
    this.opts.onRemoved?.(from, notice.removedAt as number);
    return true;
  }

  /** A frame that came back on our own connection to `peer`: its replies (when its connection
   *  to us is down) and its notices about our configuration. */
  private onOutboundFrame(peer: PeerAddress, frame: Frame): void {
    if (frame.type === 'notice') {
      if (this.tookRemoval(peer.id, frame as unknown as PeerNotice)) return;
      const reason = String((frame as unknown as PeerNotice).reason).slice(0, NOTICE_CHARS_MAX);
      this.warnings.notices.note('notice', `${peer.id} at ${peer.host}:${peer.port}`, { reason });
      return;
    }
    if (frame.type === 'snapAck') {
      this.opts.onSnapAck?.(peer.id, frame as unknown as PeerSnapAck);
      return;
    }
    if (frame.type === 'snap') {
      // A chunk back on our own connection (its connection to us is down).
      const out = this.outbound.get(peer.id);
      this.acceptSnapChunk(peer.id, frame, () => void out?.close(), (ack) => void out?.send(ack));
      return;
    }
    if (frame.type === 'raft') {
      const out = this.outbound.get(peer.id);
      this.acceptRaft(peer.id, frame, (reason) => {
        this.opts.log('warn', `closing the connection to ${peer.id}: ${reason}`);
        void out?.close();
      });
    }
  }

  /** Checks a raft frame from `from` and hands its messages to the driver; garbage closes the
   *  connection it came on (it must not reach the core or the commitlog, where it would stop the
   *  replica). */
  private acceptRaft(from: NodeId, frame: Frame, close: (reason: string) => void): void {
    const msgs = (frame as unknown as PeerRaft).msgs;
    if (!Array.isArray(msgs)) {
      close('raft frame without msgs');
      return;
    }
    const self = this.opts.self.id;
    const accepted: Message[] = [];
    const blobs = new BlobCursor(frame.blobs ?? EMPTY_BLOBS);
    for (const m of msgs) {
      // A peer speaks only for itself and only to us; anything else is a bug or an intruder.
      if (m === null || typeof m !== 'object' || m.from !== from || m.to !== self) {
        close(`raft message not from ${from} to ${self}`);
        return;
      }
      const problem = wireMessageProblem(m);
      if (problem !== null) {
        close(`raft message from ${from}: ${problem}`);
        return;
      }
      if (m.type === MessageType.Snapshot) {
        // Its bytes come in a snapshot transfer, which hands the message over once they are in.
        close(`raft message from ${from}: a Snapshot outside a snapshot transfer`);
        return;
      }
      if (m.entries.length > 0) {
        const entries = new Array<Entry>(m.entries.length);
        for (let i = 0; i < entries.length; i++) {
          const w = m.entries[i] as unknown as WireEntry;
          const data = blobs.take(w.size); // a count: wireMessageProblem checked it
          if (data === undefined) {
            close(`raft message from ${from}: entry ${i} does not fit the frame's blobs`);
            return;
          }
          entries[i] = { index: w.index, term: w.term, type: w.type, data };
        }
        (m as { entries: readonly Entry[] }).entries = entries;
      }
      accepted.push(m);
    }
    if (blobs.left !== 0) {
      close(`raft frame from ${from}: ${blobs.left} bytes of blobs belong to no entry`);
      return;
    }
    if (tracing) traceMessages(accepted, 'recv');
    this.opts.onMessages(accepted);
  }
}

/** The transport's recurring warnings: the first of each kind at once, then one summary line
 *  per interval (WarningSummary). */
class PeerWarnings {
  readonly unreachable: WarningSummary;
  readonly refused: WarningSummary;
  readonly mismatch: WarningSummary;
  readonly notices: WarningSummary;

  constructor(log: LogFn) {
    const summary = (msg: string) => new WarningSummary({ log, msg, intervalMs: PEER_WARNING_INTERVAL_MS });
    this.unreachable = summary('a peer stays unreachable (check its address in dLegerPeers and that it runs)');
    this.refused = summary('refused a peer connection');
    this.mismatch = summary('MISCONFIGURED: this replica and a peer list different dLegerPeers; fix broker.conf on the wrong side');
    this.notices = summary('a peer reports a problem with this replica\'s configuration');
  }

  close(): void {
    for (const w of [this.unreachable, this.refused, this.mismatch, this.notices]) w.close();
  }
}
