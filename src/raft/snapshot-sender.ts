// The leader's side of snapshots: sending one to a follower whose next entries are compacted, and
// the driver's report of how its transfer ended. Functions of the Raft, as in step.ts.
import { assert } from '../util/index.ts';
import type { Raft } from './core.ts';
import type { Progress } from './progress.ts';
import { ProgressState } from './progress.ts';
import { MessageType, Role, type NodeId } from './types.ts';

/**
 * Leader: sends storage.snapshot() to `to` and pauses its progress (state Snapshot) until the
 * follower answers or the transfer is reported. As etcd does, only to a follower heard from
 * in the current check-quorum period (recentActive): a snapshot is large, and one that is down
 * would only waste it; its heartbeat response makes it active and sends the snapshot then.
 * Not while this node's own log is a snapshot still being installed (its storage's snapshot
 * would be the one it replaces); the next heartbeat response retries.
 */
export function sendSnapshot(r: Raft, to: NodeId, pr: Progress): boolean {
  if (!pr.recentActive || r.log.unstable.snapshot !== null) return false;
  const snap = r.log.storage.snapshot();
  assert(
    snap.index >= r.log.firstIndex() - 1 && snap.index <= r.log.committed,
    `sendSnapshot: storage.snapshot() at ${snap.index} outside [${r.log.firstIndex() - 1}, commit ${r.log.committed}]`,
  );
  const m = r.newMessage(MessageType.Snapshot, to);
  m.index = snap.index;
  m.logTerm = snap.term;
  m.commit = r.log.committed;
  m.conf = snap.conf ?? null;
  r.msgs.push(m);
  pr.becomeSnapshot(snap.index);
  return true;
}

/** Leader: the driver reports how the transfer of a snapshot to `peer` ended. */
export function reportSnapshot(r: Raft, peer: NodeId, ok: boolean): void {
  if (r.role !== Role.Leader || peer === r.id) return;
  const pr = r.prs.get(peer);
  if (pr === undefined || pr.state !== ProgressState.Snapshot) return;
  pr.snapshotReported(ok);
}
