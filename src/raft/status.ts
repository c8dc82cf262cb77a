// RaftStatus of a Raft node (RaftNodeApi.status): a copy, safe to keep.

import type { Raft } from './core.ts';
import type { ProgressStatus, RaftStatus } from './types.ts';
import { Role } from './types.ts';

export function raftStatus(r: Raft): RaftStatus {
  const progress: Record<string, ProgressStatus> = {};
  const conf = r.conf;
  if (r.role === Role.Leader) {
    for (const [peer, pr] of r.prs) if (peer !== r.id && pr.removedAt === 0) progress[peer] = pr.toStatus(conf.learners.includes(peer));
  }
  return {
    id: r.id,
    role: r.role,
    term: r.term,
    vote: r.vote,
    leaderId: r.lead,
    commit: r.log.committed,
    applied: r.log.applied,
    lastIndex: r.log.lastIndex(),
    leaderCommit: r.role === Role.Leader ? r.log.committed : r.leaderCommit,
    recovering: r.recovering,
    progress,
    transferee: r.leadTransferee,
    conf: { voters: conf.voters.slice(), learners: conf.learners.slice() },
    pendingConfIndex: r.role === Role.Leader ? r.pendingConfIndex : 0,
  };
}
