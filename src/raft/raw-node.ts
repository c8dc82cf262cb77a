// RaftNode: the driver-facing API (etcd's RawNode). Wraps the core state machine and packages
// its output into Ready batches that respect the persistence ordering rule (see types.ts).
//
// Contract: ready() and advance(ready) (or accept(ready)) alternate; hasReady() is false while
// a Ready is out. With accept(), entries (and a snapshot) are made durable later by
// persisted(index, term).

import { assert } from '../util/index.ts';
import { Raft } from './core.ts';
import { reportSnapshot } from './snapshot-sender.ts';
import { propose, proposeConfChange } from './propose.ts';
import { reportUnreachable } from './unreachable.ts';
import { readIndex } from './read-index.ts';
import { Role } from './types.ts';
import type { ConfChange, Entry, HardState, Message, NodeId, ProposeRefusal, ProposeResult, RaftConfig, RaftNodeApi, RaftStatus, Ready, ReadState, SoftState, Storage } from './types.ts';

const EMPTY_MESSAGES: readonly Message[] = Object.freeze([] as Message[]);
const EMPTY_ENTRIES: readonly Entry[] = Object.freeze([] as Entry[]);
const EMPTY_READ_STATES: readonly ReadState[] = Object.freeze([] as ReadState[]);

export class RaftNode implements RaftNodeApi {
  private readonly raft: Raft;
  private prevSoftState: SoftState;
  private prevHardState: HardState;
  private readyOutstanding = false;

  constructor(config: RaftConfig, storage: Storage) {
    this.raft = new Raft(config, storage);
    this.prevSoftState = this.raft.softState();
    this.prevHardState = storage.initialHardState();
  }

  get id(): NodeId {
    return this.raft.id;
  }

  tick(): void {
    this.raft.tick();
  }

  step(message: Message): void {
    // Messages addressed elsewhere are dropped (a misrouted frame is an operating error).
    if (message.to !== this.raft.id) return;
    this.raft.step(message);
  }

  propose(data: readonly Uint8Array[]): ProposeResult {
    return propose(this.raft, data);
  }

  proposeConfChange(cc: ConfChange, opts: { readonly force?: boolean } = {}): ProposeResult {
    return proposeConfChange(this.raft, cc, opts.force ?? false);
  }

  readIndex(ctx: Uint8Array): { readonly ok: true } | ProposeRefusal {
    return readIndex(this.raft, ctx);
  }

  transferLeadership(to: NodeId): boolean {
    return this.raft.transferLeadership(to);
  }

  reportUnreachable(peer: NodeId): void {
    reportUnreachable(this.raft, peer);
  }

  reportSnapshot(peer: NodeId, ok: boolean): void {
    reportSnapshot(this.raft, peer, ok);
  }

  /** Campaigns now (tests and tools; the normal path is the election timeout). */
  campaign(): void {
    this.raft.hup(false);
  }

  hasReady(): boolean {
    if (this.readyOutstanding) return false;
    const r = this.raft;
    if (r.pendingBcast || r.msgs.length > 0 || r.msgsAfterAppend.length > 0 || r.readStates.length > 0) return true;
    if (r.readOnly.openHasReads) return true;
    if (r.log.unstable.nextSnapshot() !== null || r.log.unstable.hasNextEntries() || r.log.hasNextCommittedEntries()) return true;
    const soft = this.prevSoftState;
    if (soft.role !== r.role || soft.leaderId !== r.lead || soft.term !== r.term) return true;
    const hard = this.prevHardState;
    return hard.term !== r.term || hard.vote !== r.vote || hard.commit !== r.log.committed || (hard.recovering ?? false) !== r.recovering;
  }

  ready(): Ready {
    assert(!this.readyOutstanding, 'RaftNode.ready: the previous Ready has not been advanced');
    const r = this.raft;
    r.flushPending();
    this.readyOutstanding = true;

    let softState: SoftState | null = null;
    const soft = this.prevSoftState;
    if (soft.role !== r.role || soft.leaderId !== r.lead || soft.term !== r.term) {
      softState = r.softState();
      this.prevSoftState = softState;
    }
    let hardState: HardState | null = null;
    let mustSync = false;
    const hard = this.prevHardState;
    const recoveringChanged = (hard.recovering ?? false) !== r.recovering;
    // A leader whose term or vote is not durable yet (it elected itself: a single voter, so no
    // vote request waited for them) sends nothing of this Ready before they are: a crash must not
    // let it lead the same term again with another log. (Elected by others, its term and vote
    // were durable before it asked.)
    const termChanged = r.role === Role.Leader && (hard.term !== r.term || hard.vote !== r.vote);
    if (hard.term !== r.term || hard.vote !== r.vote || hard.commit !== r.log.committed || recoveringChanged) {
      mustSync = hard.term !== r.term || hard.vote !== r.vote || recoveringChanged;
      hardState = r.recovering ? { term: r.term, vote: r.vote, commit: r.log.committed, recovering: true } : { term: r.term, vote: r.vote, commit: r.log.committed };
      this.prevHardState = hardState;
    }
    const unstable = r.log.unstable;
    const snapshot = unstable.nextSnapshot();
    let entries = EMPTY_ENTRIES;
    if (unstable.hasNextEntries()) entries = unstable.nextEntries();
    if (snapshot !== null || entries.length > 0) {
      unstable.acceptInProgress();
      mustSync = true;
    }
    let messages = r.msgs.length > 0 ? r.msgs : EMPTY_MESSAGES;
    if (r.msgs.length > 0) r.msgs = [];
    let persistedMessages = r.msgsAfterAppend.length > 0 ? r.msgsAfterAppend : EMPTY_MESSAGES;
    if (r.msgsAfterAppend.length > 0) r.msgsAfterAppend = [];
    if (termChanged && messages.length > 0) {
      persistedMessages = persistedMessages.length > 0 ? [...messages, ...persistedMessages] : messages;
      messages = EMPTY_MESSAGES;
    }
    const committedEntries = r.log.hasNextCommittedEntries()
      ? r.log.nextCommittedEntries(r.config.maxBytesPerMessage)
      : EMPTY_ENTRIES;
    const readStates = r.readStates.length > 0 ? r.readStates : EMPTY_READ_STATES;
    if (r.readStates.length > 0) r.readStates = [];
    return { softState, hardState, mustSync, snapshot, entries, messages, persistedMessages, committedEntries, readStates };
  }

  advance(ready: Ready): void {
    assert(this.readyOutstanding, 'RaftNode.advance: no Ready is outstanding');
    this.readyOutstanding = false;
    if (ready.snapshot !== null) {
      this.raft.onSnapshotApplied(ready.snapshot);
      this.raft.onPersisted(ready.snapshot.index, ready.snapshot.term);
    }
    if (ready.entries.length > 0) {
      const last = ready.entries[ready.entries.length - 1];
      this.raft.onPersisted(last.index, last.term);
    }
    this.onApplied(ready);
  }

  accept(ready: Ready): void {
    assert(this.readyOutstanding, 'RaftNode.accept: no Ready is outstanding');
    this.readyOutstanding = false;
    if (ready.snapshot !== null) this.raft.onSnapshotApplied(ready.snapshot);
    this.onApplied(ready);
  }

  persisted(index: number, term: number): void {
    assert(!this.readyOutstanding, 'RaftNode.persisted: a Ready is outstanding');
    this.raft.onPersisted(index, term);
  }

  private onApplied(ready: Ready): void {
    const r = this.raft;
    const applied = ready.committedEntries;
    if (applied.length > 0) {
      let bytes = 0;
      for (let i = 0; i < applied.length; i++) bytes += applied[i].data.byteLength;
      r.onApplied(applied[applied.length - 1].index, bytes);
    }
  }

  status(): RaftStatus {
    return this.raft.status();
  }
}
