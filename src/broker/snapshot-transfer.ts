// Snapshot transfer between replicas: a follower behind the start of the master's log gets the
// snapshot of the mark the log was cut at (retention-marks.ts), in chunks with a CRC each, with
// flow control (a window of chunks not yet acknowledged), resumable after a dropped connection.
//
// The master's core emits a Raft Snapshot message; the driver hands it here instead of to the
// transport. The sender streams the mark's bytes with the message in every chunk; the follower
// stages them and gives its core the message only once every byte is in, so the core's
// Ready.snapshot always finds its bytes here (take()). Every chunk is acknowledged with how much
// the follower holds: a chunk it does not expect (a resumed or repeated transfer, or bytes lost
// with a connection) rewinds the sender to there.
import { crc32 } from 'node:zlib';
import type { LogFn } from '../net/index.ts';
import type { PeerSnapAck, PeerSnapChunk } from '../protocol/index.ts';
import { MessageType, type Message, type NodeId } from '../raft/index.ts';

/** Bytes per chunk. */
export const SNAPSHOT_CHUNK_BYTES = 1024 * 1024;
/** Chunks sent and not yet acknowledged, per transfer. */
export const SNAPSHOT_WINDOW_CHUNKS = 4;
/** A transfer that gets no acknowledgement this long is given up (the core sends it again). */
export const SNAPSHOT_STALL_MS = 10_000;
/** Largest snapshot a follower stages: what one transfer can cost its memory. */
export const SNAPSHOT_STAGED_BYTES_MAX = 512 * 1024 * 1024;

/** What the sender needs of the world. */
export interface SnapshotSenderOptions {
  /** The snapshot bytes of mark `index` (throws when this replica cannot read them). */
  readonly read: (index: number, term: number) => Uint8Array;
  /** Queues a chunk frame to `to`; false when it could not be queued (not connected, full). */
  readonly sendChunk: (to: NodeId, frame: PeerSnapChunk, data: Uint8Array) => boolean;
  /** The transfer to `to` ended: delivered, or failed (the core sends a new Snapshot later). */
  readonly report: (to: NodeId, ok: boolean) => void;
  readonly log: LogFn;
  readonly nowMs?: () => number;
}

interface Outgoing {
  msg: Message;
  readonly bytes: Uint8Array;
  /** Acknowledged by the follower. */
  acked: number;
  /** Sent (acked <= sent). */
  sent: number;
  lastProgressMs: number;
  readonly startedMs: number;
  /** Inside pump (see there). */
  pumping: boolean;
  /** The one chunk of an empty snapshot went out. */
  emptySent: boolean;
  /** acked when the sender last went back to it (-1: never). */
  rewoundAt: number;
}

export class SnapshotSender {
  private readonly transfers = new Map<NodeId, Outgoing>();
  private readonly now: () => number;

  constructor(private readonly opts: SnapshotSenderOptions) {
    this.now = opts.nowMs ?? Date.now;
  }

  /** The core sent `msg` (a Snapshot message): starts its transfer, or resumes the one of the same
   *  snapshot from what the follower acknowledged. */
  send(msg: Message): void {
    const to = msg.to;
    const current = this.transfers.get(to);
    if (current !== undefined && current.msg.index === msg.index && current.msg.logTerm === msg.logTerm) {
      current.msg = msg;
      current.sent = current.acked;
      current.emptySent = false;
      current.rewoundAt = -1;
      current.lastProgressMs = this.now();
      this.pump(to, current);
      return;
    }
    let bytes: Uint8Array;
    try {
      bytes = this.opts.read(msg.index, msg.logTerm);
    } catch (err) {
      this.transfers.delete(to);
      this.opts.log('error', `cannot send the snapshot of index ${msg.index} to ${to}: ${(err as Error).message}`);
      this.opts.report(to, false);
      return;
    }
    const t: Outgoing = { msg, bytes, acked: 0, sent: 0, lastProgressMs: this.now(), startedMs: this.now(), pumping: false, emptySent: false, rewoundAt: -1 };
    this.transfers.set(to, t);
    this.opts.log('info', `sending ${to} the snapshot of index ${msg.index} (${bytes.length} bytes): it is behind the start of the log`);
    this.pump(to, t);
  }

  /** The follower's acknowledgement. */
  onAck(from: NodeId, ack: PeerSnapAck): void {
    const t = this.transfers.get(from);
    if (t === undefined || ack.index !== t.msg.index || ack.term !== t.msg.logTerm) return;
    if (!Number.isSafeInteger(ack.next) || ack.next < 0 || ack.next > t.bytes.length) return;
    if (ack.next > t.acked || (t.bytes.length === 0 && t.emptySent)) {
      t.acked = ack.next;
      t.lastProgressMs = this.now();
      if (t.sent < t.acked) t.sent = t.acked;
    } else if (ack.next === t.acked && t.sent > t.acked && t.rewoundAt !== t.acked) {
      // No progress while more is on the way: it lacks the chunk at `acked` (lost, or failed its
      // CRC). Send again from there, once per point (more such answers are for the same gap).
      t.rewoundAt = t.acked;
      t.sent = t.acked;
    } else {
      return; // an old acknowledgement (reordered or repeated)
    }
    if (t.acked === t.bytes.length) {
      this.transfers.delete(from);
      this.opts.log('info', `${from} has the snapshot of index ${t.msg.index} (${t.bytes.length} bytes in ${this.now() - t.startedMs} ms)`);
      this.opts.report(from, true);
      return;
    }
    this.pump(from, t);
  }

  /** The connection to `peer` went down: its transfer waits (the core resends the Snapshot, and
   *  the transfer resumes where the follower says it stopped). */
  peerDown(peer: NodeId): void {
    const t = this.transfers.get(peer);
    if (t !== undefined) {
      t.sent = t.acked;
      t.emptySent = false;
    }
  }

  /** Gives up transfers with no progress for SNAPSHOT_STALL_MS (call it on a timer). */
  expire(): void {
    const now = this.now();
    for (const [to, t] of this.transfers) {
      if (now - t.lastProgressMs < SNAPSHOT_STALL_MS) continue;
      this.transfers.delete(to);
      this.opts.log('warn', `the snapshot transfer of index ${t.msg.index} to ${to} stalled at ${t.acked} of ${t.bytes.length} bytes; it is sent again`);
      this.opts.report(to, false);
    }
  }

  close(): void {
    this.transfers.clear();
  }

  private pump(to: NodeId, t: Outgoing): void {
    // An acknowledgement may come back inside sendChunk (a synchronous link): the outer call
    // goes on with what it changed.
    if (t.pumping) return;
    t.pumping = true;
    try {
      const total = t.bytes.length;
      // An empty snapshot is still one (empty) chunk: the follower needs the message.
      while ((t.sent < total || (total === 0 && !t.emptySent)) && t.sent - t.acked < SNAPSHOT_WINDOW_CHUNKS * SNAPSHOT_CHUNK_BYTES) {
        const start = t.sent;
        const end = Math.min(total, start + SNAPSHOT_CHUNK_BYTES);
        const data = t.bytes.subarray(start, end);
        const frame: PeerSnapChunk = { type: 'snap', id: 0, msg: t.msg, offset: start, total, crc: crc32(data) };
        t.sent = end;
        if (total === 0) t.emptySent = true;
        if (!this.opts.sendChunk(to, frame, data)) {
          // Resumed when the core sends the Snapshot again.
          t.sent = Math.min(t.sent, start);
          t.emptySent = false;
          return;
        }
        if (this.transfers.get(to) !== t) return; // finished (or replaced) meanwhile
      }
    } finally {
      t.pumping = false;
    }
  }
}

/** A snapshot fully received, waiting for the core's Ready.snapshot. */
export interface ReceivedSnapshot {
  readonly index: number;
  readonly term: number;
  readonly bytes: Uint8Array;
}

export interface SnapshotReceiverOptions {
  /** The Snapshot message, once its bytes are all in: to the core. */
  readonly deliver: (msg: Message) => void;
  readonly log: LogFn;
}

interface Incoming {
  readonly from: NodeId;
  readonly index: number;
  readonly term: number;
  readonly bytes: Uint8Array;
  received: number;
}

export class SnapshotReceiver {
  /** The one transfer being received (a new snapshot replaces it). */
  private incoming: Incoming | null = null;
  /** Received in full, by index; the newest few. */
  private readonly complete = new Map<number, ReceivedSnapshot>();

  constructor(private readonly opts: SnapshotReceiverOptions) {}

  /** A chunk from `from`; returns the acknowledgement to send back, or a reason to close the
   *  connection (a malformed chunk). */
  onChunk(from: NodeId, frame: PeerSnapChunk, data: Uint8Array): PeerSnapAck | string {
    const { msg, offset, total, crc } = frame;
    if (msg === null || typeof msg !== 'object' || msg.type !== MessageType.Snapshot || msg.from !== from) return 'snapshot chunk without its Snapshot message';
    if (!isCount(offset) || !isCount(total) || !isCount(crc) || !isCount(msg.index) || !isCount(msg.logTerm)) return 'snapshot chunk with a bad offset, total, crc, index or term';
    if (total > SNAPSHOT_STAGED_BYTES_MAX) return `snapshot of ${total} bytes, more than ${SNAPSHOT_STAGED_BYTES_MAX}`;
    if (offset + data.length > total) return 'snapshot chunk past its total';
    const index = msg.index;
    const term = msg.logTerm;
    const ack = (next: number): PeerSnapAck => ({ type: 'snapAck', id: 0, index, term, next });
    const done = this.complete.get(index);
    if (done !== undefined && done.term === term) {
      // Sent again (our delivery or acknowledgement was lost): the core gets the message again.
      if (offset + data.length === total) this.opts.deliver(msg);
      return ack(total);
    }
    let t = this.incoming;
    if (t === null || t.index !== index || t.term !== term || t.from !== from || t.bytes.length !== total) {
      if (offset !== 0) return ack(0); // start from the beginning
      t = { from, index, term, bytes: new Uint8Array(total), received: 0 };
      this.incoming = t;
    }
    if (offset !== t.received) return ack(t.received);
    if (crc32(data) !== crc) {
      this.opts.log('warn', `a snapshot chunk from ${from} failed its CRC at offset ${offset}; it is sent again`);
      return ack(t.received);
    }
    t.bytes.set(data, offset);
    t.received += data.length;
    if (t.received === total) {
      this.incoming = null;
      this.complete.set(index, { index, term, bytes: t.bytes });
      while (this.complete.size > 2) this.complete.delete(this.complete.keys().next().value!);
      this.opts.log('info', `received the snapshot of index ${index} from ${from} (${total} bytes)`);
      this.opts.deliver(msg);
    }
    return ack(t.received);
  }

  /** The snapshot the core asks to install (Ready.snapshot); undefined if it never came in full. */
  take(index: number, term: number): ReceivedSnapshot | undefined {
    const s = this.complete.get(index);
    if (s === undefined || s.term !== term) return undefined;
    this.complete.delete(index);
    return s;
  }
}

function isCount(v: unknown): v is number {
  return Number.isSafeInteger(v) && (v as number) >= 0;
}
