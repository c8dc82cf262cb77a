// Replica <-> replica transport over src/net. Each replica dials every peer (outbound: used to
// send) and accepts every peer (inbound: used to receive). A peer whose connection resets or
// refuses is reported to the driver at once: that, not a timeout, is how a follower learns its
// leader process died, and what makes failover take tens of milliseconds.
import { BlobCursor, Connection, listen, type Server, type ServerConnection, type Frame, type LogFn } from '../net/index.ts';
import { EntryType, MessageType, type Entry, type Message, type NodeId } from '../raft/types.ts';
import { PEER_PROTOCOL_VERSION, type PeerHello, type PeerRaft } from './protocol.ts';
import type { PeerSender } from './replica.ts';
import { tracing } from '../trace/trace.ts';
import { traceMessages } from './trace-messages.ts';

export interface PeerAddress {
  readonly id: NodeId;
  readonly host: string;
  readonly port: number;
}

export interface PeerTransportOptions {
  readonly group: string;
  readonly self: PeerAddress;
  readonly peers: readonly PeerAddress[];
  /** Our client listener, announced in the hello. */
  readonly clientAddr: string;
  readonly log: LogFn;
  readonly onMessages: (messages: Message[]) => void;
  readonly onPeerDown: (peer: NodeId, reason: string) => void;
  /** A peer announced its client address (for NOT_MASTER hints). */
  readonly onPeerClientAddr: (peer: NodeId, addr: string) => void;
}

const PEER_FRAME_TYPES: ReadonlySet<string> = new Set(['hello', 'raft']);
/** Outbound reconnects: quick first retry so a restarted peer is back within tens of ms. */
const PEER_BACKOFF_MS_MIN = 20;
const PEER_BACKOFF_MS_MAX = 500;
/** Frames queued for a peer that is down are dropped beyond this (Raft resends what matters). */
const PEER_SEND_QUEUE_BYTES_MAX = 64 * 1024 * 1024;

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

const MESSAGE_TYPES: ReadonlySet<string> = new Set(Object.values(MessageType));
const isCount = (v: unknown): boolean => Number.isSafeInteger(v) && (v as number) >= 0;

/** Why a decoded wire message is not a well-formed Raft message, or null. */
export function wireMessageProblem(m: Message): string | null {
  if (!MESSAGE_TYPES.has(m.type)) return `unknown type ${JSON.stringify(m.type)?.slice(0, 32)}`;
  for (const k of ['term', 'index', 'logTerm', 'commit', 'rejectHint', 'rejectTerm'] as const) {
    if (!isCount(m[k])) return `${k} is not a non-negative integer`;
  }
  if (typeof m.reject !== 'boolean' || typeof m.transfer !== 'boolean') return 'reject/transfer are not booleans';
  if (!Array.isArray(m.entries)) return 'no entries list';
  for (let i = 0; i < m.entries.length; i++) {
    const w = m.entries[i] as unknown as WireEntry;
    if (w === null || typeof w !== 'object') return `entry ${i} is not an object`;
    if (!Number.isSafeInteger(w.index) || w.index < 1 || !isCount(w.term)) return `entry ${i} has a bad index or term`;
    if (w.type !== EntryType.Normal && w.type !== EntryType.NoOp) return `entry ${i} has an unknown type`;
    if (!isCount(w.size)) return `entry ${i} has a bad size`;
  }
  return null;
}

export class PeerTransport implements PeerSender {
  private readonly opts: PeerTransportOptions;
  private readonly outbound = new Map<NodeId, Connection>();
  private readonly peerIds: ReadonlySet<NodeId>;
  private server: Server | null = null;
  private closed = false;

  constructor(opts: PeerTransportOptions) {
    this.opts = opts;
    this.peerIds = new Set(opts.peers.map((p) => p.id));
  }

  async start(): Promise<void> {
    const { self, log } = this.opts;
    this.server = await listen(
      { host: self.host, port: self.port, log, frameTypes: PEER_FRAME_TYPES, connPendingBytesMax: PEER_SEND_QUEUE_BYTES_MAX },
      (frame, conn) => this.onInbound(frame, conn),
    );
    for (const peer of this.opts.peers) {
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
        }),
        onDown: (reason) => {
          if (!this.closed) this.opts.onPeerDown(peer.id, `outbound: ${reason}`);
        },
      });
      this.outbound.set(peer.id, conn);
      conn.connect().catch(() => {
        // reconnect: 'auto' keeps trying; onDown already told the driver
      });
    }
  }

  send(to: NodeId, messages: Message[]): void {
    const conn = this.outbound.get(to);
    if (conn === undefined) return;
    // Entry bodies travel as the frame's raw blobs, not inside msgpack: they leave in the same
    // writev as the frame and are never copied on the way out.
    const blobs: Uint8Array[] = [];
    // Object.assign, not `{ ...m, entries }` (see Connection.request).
    const msgs = messages.map((m) => (m.entries.length === 0 ? m : Object.assign({}, m, { entries: m.entries.map((e) => wireEntry(e, blobs)) })));
    const frame: PeerRaft = { type: 'raft', id: 0, msgs: msgs as unknown as Message[] };
    // A frame for a peer that is down is dropped (false): Raft resends what matters.
    conn.send(frame, blobs);
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.outbound.values()].map((c) => c.close()));
    this.outbound.clear();
    await this.server?.close();
  }

  private onInbound(frame: Frame, conn: ServerConnection): void {
    if (frame.type === 'hello') {
      const hello = frame as unknown as PeerHello;
      if (hello.group !== this.opts.group || !this.peerIds.has(hello.nodeId)) {
        conn.close(`hello from ${String(hello.nodeId)} of group ${String(hello.group)}: not a peer of ${this.opts.group}`);
        return;
      }
      const protocol = hello.protocol ?? 1;
      if (protocol !== PEER_PROTOCOL_VERSION) {
        // Refused, not misread: replicas of different versions must not exchange Raft traffic.
        conn.close(`hello from ${hello.nodeId}: peer protocol ${String(protocol)}, this replica speaks ${PEER_PROTOCOL_VERSION} (upgrade every replica)`);
        return;
      }
      conn.context = hello.nodeId;
      if (typeof hello.clientAddr === 'string') this.opts.onPeerClientAddr(hello.nodeId, hello.clientAddr);
      conn.onClose((reason) => {
        if (!this.closed) this.opts.onPeerDown(hello.nodeId, `inbound: ${reason}`);
      });
      return;
    }
    const from = conn.context as NodeId | undefined;
    if (from === undefined) {
      conn.close('raft frame before hello');
      return;
    }
    const msgs = (frame as unknown as PeerRaft).msgs;
    if (!Array.isArray(msgs)) {
      conn.close('raft frame without msgs');
      return;
    }
    const self = this.opts.self.id;
    const accepted: Message[] = [];
    const blobs = new BlobCursor(frame.blobs ?? EMPTY_BLOBS);
    for (const m of msgs) {
      // A peer speaks only for itself and only to us; anything else is a bug or an intruder.
      if (m === null || typeof m !== 'object' || m.from !== from || m.to !== self) {
        conn.close(`raft message not from ${from} to ${self}`);
        return;
      }
      // Garbage must close the connection here, not reach the core or the commitlog (where it
      // would stop the replica).
      const problem = wireMessageProblem(m);
      if (problem !== null) {
        conn.close(`raft message from ${from}: ${problem}`);
        return;
      }
      if (m.entries.length > 0) {
        const entries = new Array<Entry>(m.entries.length);
        for (let i = 0; i < entries.length; i++) {
          const w = m.entries[i] as unknown as WireEntry;
          const data = blobs.take(w.size); // a count: wireMessageProblem checked it
          if (data === undefined) {
            conn.close(`raft message from ${from}: entry ${i} does not fit the frame's blobs`);
            return;
          }
          entries[i] = { index: w.index, term: w.term, type: w.type, data };
        }
        (m as { entries: readonly Entry[] }).entries = entries;
      }
      accepted.push(m);
    }
    if (blobs.left !== 0) {
      conn.close(`raft frame from ${from}: ${blobs.left} bytes of blobs belong to no entry`);
      return;
    }
    if (tracing) traceMessages(accepted, 'recv');
    this.opts.onMessages(accepted);
  }
}
