// Linearizable reads (etcd's ReadIndex, read_only.go): the leader records its commit index,
// confirms it is still leader with a heartbeat round that a majority of the current voters
// acknowledges in this term, then hands out a ReadState (its own reads) or answers the follower
// that forwarded the read (ReadIndexResp). Functions of the Raft, as in step.ts.
//
// Rounds: reads registered between two Readies share one round; its heartbeats carry the round
// number as their context and followers echo it. An acknowledgement of round k confirms every
// read of rounds <= k (it left the follower after they were registered). Periodic heartbeats
// carry the latest round sent while reads wait, so a lost round is confirmed by the next one.

import type { Raft } from './core.ts';
import { committedIndex } from './quorum.ts';
import type { Message, NodeId, ProposeRefusal, ReadState } from './types.ts';
import { MessageType, NONE, Role } from './types.ts';

/** Reads a leader keeps waiting (queued, or in a round) before it refuses more. */
export const READ_QUEUE_MAX = 4096;

const EMPTY_CONTEXT = new Uint8Array(0);

interface Read {
  readonly ctx: Uint8Array;
  /** The reader: this node, or the follower that forwarded it. */
  readonly from: NodeId;
}

interface RoundRead extends Read {
  /** The leader's commit index when the read was registered. */
  readonly index: number;
  readonly round: number;
}

export class ReadOnly {
  /** Reads that came before the leader committed an entry of its term (its commit index may be
   *  behind what earlier leaders committed until then). */
  waiting: Read[] = [];
  /** Reads in a round, oldest (lowest round) first. */
  pending: RoundRead[] = [];
  /** The round new reads join; its heartbeats have not gone out yet. */
  openRound = 1;
  /** Whether reads joined the open round. */
  openHasReads = false;

  reset(): void {
    this.waiting = [];
    this.pending = [];
    this.openRound = 1;
    this.openHasReads = false;
  }

  count(): number {
    return this.waiting.length + this.pending.length;
  }

  /** The context periodic heartbeats carry: the latest round sent while reads wait. */
  heartbeatContext(): Uint8Array {
    return this.pending.length > 0 && this.openRound > 1 ? encodeRound(this.openRound - 1) : EMPTY_CONTEXT;
  }
}

export function encodeRound(round: number): Uint8Array {
  const b = new Uint8Array(8);
  const v = new DataView(b.buffer);
  v.setUint32(0, Math.floor(round / 0x100000000));
  v.setUint32(4, round >>> 0);
  return b;
}

/** The round a heartbeat response acknowledges (0: none). */
export function decodeRound(ctx: Uint8Array): number {
  if (ctx.byteLength !== 8) return 0;
  const v = new DataView(ctx.buffer, ctx.byteOffset, 8);
  return v.getUint32(0) * 0x100000000 + v.getUint32(4);
}

function refusal(r: Raft, code: ProposeRefusal['code'], reason: string): ProposeRefusal {
  return { ok: false, code, leaderHint: r.role === Role.Leader ? r.id : r.lead, reason };
}

/** RaftNodeApi.readIndex. */
export function readIndex(r: Raft, ctx: Uint8Array): { ok: true } | ProposeRefusal {
  if (r.role === Role.Leader) {
    if (r.readOnly.count() >= READ_QUEUE_MAX) return refusal(r, 'READ_QUEUE_FULL', `${READ_QUEUE_MAX} reads are already waiting`);
    leaderRead(r, { ctx, from: r.id });
    return { ok: true };
  }
  if (r.lead === NONE) return refusal(r, 'NOT_LEADER', `${r.id} knows no leader (${r.role}, term ${r.term})`);
  const m = r.newMessage(MessageType.ReadIndex, r.lead);
  m.context = ctx;
  r.msgs.push(m);
  return { ok: true };
}

/** Leader: a ReadIndex a follower forwarded (dropped when the queue is full: it times out). */
export function handleReadIndex(r: Raft, m: Message): void {
  if (r.readOnly.count() >= READ_QUEUE_MAX) return;
  leaderRead(r, { ctx: m.context, from: m.from });
}

function committedInTerm(r: Raft): boolean {
  return r.log.term(r.log.committed) === r.term;
}

function leaderRead(r: Raft, read: Read): void {
  if (!committedInTerm(r)) {
    r.readOnly.waiting.push(read);
    return;
  }
  const voters = r.conf.voters;
  if (voters.length === 1 && voters[0] === r.id) {
    // A single voter: nobody else can have been elected.
    release(r, read, r.log.committed);
    return;
  }
  const ro = r.readOnly;
  ro.pending.push({ ...read, index: r.log.committed, round: ro.openRound });
  ro.openHasReads = true;
}

/** Leader: it committed an entry of its term; reads queued before go into a round now. */
export function releaseWaitingReads(r: Raft): void {
  if (r.readOnly.waiting.length === 0 || !committedInTerm(r)) return;
  const waiting = r.readOnly.waiting;
  r.readOnly.waiting = [];
  for (const read of waiting) leaderRead(r, read);
}

/** Leader, before a Ready: the open round's heartbeats go out. Returns their context, or null. */
export function closeOpenRound(r: Raft): Uint8Array | null {
  const ro = r.readOnly;
  if (!ro.openHasReads) return null;
  ro.openHasReads = false;
  return encodeRound(ro.openRound++);
}

/** Leader: a heartbeat response; releases the reads a majority of voters has now confirmed. */
export function onHeartbeatAck(r: Raft, from: NodeId, ctx: Uint8Array): void {
  const round = decodeRound(ctx);
  const pr = r.prs.get(from);
  if (round === 0 || pr === undefined || round <= pr.readAckRound) return;
  pr.readAckRound = round;
  const ro = r.readOnly;
  if (ro.pending.length === 0) return;
  const voters = r.conf.voters;
  const acked = voters.map((id) => (id === r.id ? Number.MAX_SAFE_INTEGER : (r.prs.get(id)?.readAckRound ?? 0)));
  const confirmed = committedIndex(acked);
  let n = 0;
  while (n < ro.pending.length && ro.pending[n].round <= confirmed) n++;
  if (n === 0) return;
  const done = ro.pending.splice(0, n);
  for (const read of done) release(r, read, read.index);
}

function release(r: Raft, read: Read, index: number): void {
  if (read.from === r.id) {
    r.readStates.push({ index, ctx: read.ctx } satisfies ReadState);
    return;
  }
  const m = r.newMessage(MessageType.ReadIndexResp, read.from);
  m.index = index;
  m.context = read.ctx;
  r.msgs.push(m);
}
