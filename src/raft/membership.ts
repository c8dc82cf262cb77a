// How a Raft node follows its configuration (etcd's tracker/ and the conf parts of raft.go): the
// configuration it starts from, progress entries that follow the configuration in force, and a
// leader that steps down once its own removal is committed. Functions of the Raft, as in step.ts.

import { assert } from '../util/index.ts';
import type { Raft } from './core.ts';
import { isMemberOf } from './conf.ts';
import { Progress } from './progress.ts';
import type { ConfAt, ConfState, RaftConfig, Storage } from './types.ts';
import { EntryType, NONE, Role } from './types.ts';

/** The configuration a node starts from: its state machine's (Storage.initialConfState), or its
 *  store's snapshot's when that is newer than the applied index, or the seed. */
export function initialConf(config: RaftConfig, storage: Storage, seed: ConfState): ConfAt {
  const snap = storage.snapshot();
  if (snap.index > (config.applied ?? 0) && snap.conf !== undefined) return { index: snap.index, conf: snap.conf ?? seed };
  return storage.initialConfState() ?? { index: 0, conf: seed };
}

/** Construction: the conf entries of the log after the applied index (the state machine knows
 *  the configuration up to it), read in bounded batches. */
export function scanConfEntries(r: Raft, storage: Storage): void {
  const last = storage.lastIndex();
  let lo = Math.max(r.log.applied, r.confs.currentIndex()) + 1;
  while (lo <= last) {
    const batch = storage.entries(lo, last + 1, r.config.maxBytesPerMessage);
    assert(batch.length > 0, `Raft: storage.entries(${lo}, ${last + 1}) returned nothing`);
    const first = batch.findIndex((e) => e.type === EntryType.ConfChange);
    if (first >= 0) r.confs.onAppend(batch, first, r.log.committed);
    lo = batch[batch.length - 1].index + 1;
  }
}

/** The configuration in force changed (an append, a truncation, a snapshot). */
export function onConfChanged(r: Raft): void {
  syncProgress(r);
  if (r.role !== Role.Leader) return;
  if (r.leadTransferee !== NONE && !r.isVoter(r.leadTransferee)) r.abortLeaderTransfer();
  // The quorum changed: a removed voter may have held the commit back.
  if (r.maybeCommit()) r.commitBcastDue = true;
}

/** Progress entries follow the configuration: new members probe from the end of the log. The
 *  members the latest conf entry removed keep theirs (removedAt) until a heartbeat tells them it
 *  is committed (Raft.bcastHeartbeat): they then apply their removal and stop. They count for
 *  nothing. */
export function syncProgress(r: Raft): void {
  const conf = r.conf;
  const last = r.log.lastIndex();
  const at = r.confs.currentIndex();
  const before = r.confs.previous();
  const outgoing = at > 0 ? [...before.voters, ...before.learners].filter((id) => !isMemberOf(conf, id)) : [];
  for (const id of [...conf.voters, ...conf.learners, ...outgoing]) {
    let pr = r.prs.get(id);
    if (pr === undefined) {
      const match = id === r.id ? r.log.persistedLastIndex() : 0;
      pr = new Progress(match, Math.max(last + 1, match + 1), r.config.maxInflightPerFollower, r.config.maxInflightBytesPerFollower);
      r.prs.set(id, pr);
    }
    pr.removedAt = outgoing.includes(id) ? at : 0;
  }
  for (const id of [...r.prs.keys()]) {
    if (!isMemberOf(conf, id) && !outgoing.includes(id)) r.prs.delete(id);
  }
  r.setVoterProgress(conf.voters.map((id) => r.prs.get(id)!));
}

/** A leader removed from the configuration leads until that change is committed (by the new
 *  configuration's voters), then steps down: it tells everyone the commit index, hands over to
 *  a caught-up voter if there is one, and never campaigns again (it is no voter). */
export function maybeStepDownRemoved(r: Raft): void {
  if (r.role !== Role.Leader || r.isVoter(r.id) || r.confs.currentIndex() > r.log.committed) return;
  r.bcastAppend();
  const best = r.conf.voters.find((id) => r.prs.get(id)!.match === r.log.lastIndex());
  if (best !== undefined) r.sendTimeoutNow(best);
  r.becomeFollower(r.term, NONE);
}
