// The transport's report that the connection to a peer failed (RaftNodeApi.reportUnreachable).
// A function of the Raft, as in step.ts.

import type { Raft } from './core.ts';
import { ProgressState } from './progress.ts';
import { NONE, Role, type NodeId } from './types.ts';

export function reportUnreachable(r: Raft, peer: NodeId): void {
  if (r.role === Role.Leader) {
    const pr = r.prs.get(peer);
    if (pr === undefined || peer === r.id) return;
    if (pr.state === ProgressState.Replicate) pr.becomeProbe();
    // The snapshot transfer cannot have finished: send it again once the peer answers.
    else if (pr.state === ProgressState.Snapshot) pr.snapshotReported(false);
    return;
  }
  if (peer === NONE || peer !== r.lead) return;
  // Our leader is gone (its connection was reset): forget it, so we stop honouring its lease,
  // and campaign after a short randomized delay rather than a full election timeout.
  r.lead = NONE;
  if (!r.promotable || r.config.fastElectionTicksMax === 0) return;
  // Retry window: about an election timeout, so that a last retry comes after the leases of
  // peers that have not noticed yet (they heard from the leader when we did) have expired.
  r.fastElectionWindowTicks = r.config.electionTicks + 2 * r.config.fastElectionTicksMax;
  r.fastElectionDelayTicks = r.prng.intBetween(1, r.config.fastElectionTicksMax);
}
