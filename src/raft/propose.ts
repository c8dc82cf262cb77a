// Proposals: application commands, and membership changes (one at a time, only once the leader
// has committed an entry of its own term: the known fix for single-server changes, Ongaro's
// raft-dev post of 2015). Functions of the Raft, as in step.ts.

import { applyConfChange, encodeConfChangeEntry } from './conf.ts';
import type { Raft } from './core.ts';
import { ProgressState } from './progress.ts';
import { majority } from './quorum.ts';
import type { ConfChange, ConfState, Entry, ProposeRefusal, ProposeResult } from './types.ts';
import { EntryType, NONE, Role } from './types.ts';

/** Default of RaftConfig.promoteLagMax. */
export const PROMOTE_LAG_MAX_DEFAULT = 1000;

export function refuse(r: Raft, code: ProposeRefusal['code'], reason: string): ProposeRefusal {
  return { ok: false, code, leaderHint: r.role === Role.Leader ? r.id : r.lead, reason };
}

/** Why the leader cannot take any conf change now, or null. */
function inFlight(r: Raft): string | null {
  if (!r.bugs.has('two-conf-changes-in-flight') && r.pendingConfIndex > r.log.applied) {
    return `the conf change at ${r.pendingConfIndex} is not applied yet (applied ${r.log.applied})`;
  }
  if (!r.bugs.has('conf-change-before-term-commit') && r.log.term(r.log.committed) !== r.term) {
    return `the leader has not committed an entry of its term ${r.term} yet`;
  }
  return null;
}

/** A learner about to vote must be caught up and alive. */
function lagging(r: Raft, cc: ConfChange): string | null {
  const pr = r.prs.get(cc.node);
  if (pr === undefined) return `${cc.node} has no progress`;
  const lagMax = r.config.promoteLagMax ?? PROMOTE_LAG_MAX_DEFAULT;
  const last = r.log.lastIndex();
  if (pr.state !== ProgressState.Replicate) return `${cc.node} is not replicating (${pr.state}, match ${pr.match} of ${last})`;
  if (pr.match < last - lagMax) return `${cc.node} is ${last - pr.match} entries behind (at most ${lagMax})`;
  if (!pr.recentlyActive()) return `${cc.node} has not been heard from recently`;
  return null;
}

/** Whether the recently active voters of `next` are a majority of it. */
function liveQuorum(r: Raft, next: ConfState): string | null {
  let active = 0;
  for (const id of next.voters) {
    if (id === r.id || r.prs.get(id)?.recentlyActive() === true) active++;
  }
  const need = majority(next.voters.length);
  if (active >= need) return null;
  return `only ${active} of the ${next.voters.length} voters after the change were heard from recently (${need} needed)`;
}

/** RaftNodeApi.propose. */
export function propose(r: Raft, data: readonly Uint8Array[]): ProposeResult {
  if (data.length === 0) throw new TypeError('propose: no entries');
  if (r.role !== Role.Leader) return refuse(r, 'NOT_LEADER', `${r.id} is not the leader (${r.role}, term ${r.term})`);
  if (r.leadTransferee !== NONE) return refuse(r, 'TRANSFERRING', `leadership is being transferred to ${r.leadTransferee}`);
  let bytes = 0;
  for (let i = 0; i < data.length; i++) bytes += data[i].byteLength;
  // One proposal may exceed the limit on its own (else it could never go through).
  if (r.uncommittedBytes > 0 && r.uncommittedBytes + bytes > r.config.maxUncommittedBytes) {
    return refuse(r, 'UNCOMMITTED_LIMIT', `${r.uncommittedBytes} bytes proposed and not yet applied (at most ${r.config.maxUncommittedBytes})`);
  }
  const firstIndex = r.log.lastIndex() + 1;
  const term = r.term;
  const entries = new Array<Entry>(data.length);
  for (let i = 0; i < data.length; i++) {
    entries[i] = { index: firstIndex + i, term, type: EntryType.Normal, data: data[i] };
  }
  r.log.append(entries);
  r.uncommittedBytes += bytes;
  r.pendingBcast = true;
  return { ok: true, term, firstIndex, lastIndex: firstIndex + data.length - 1 };
}

/** RaftNodeApi.proposeConfChange. */
export function proposeConfChange(r: Raft, cc: ConfChange, force: boolean): ProposeResult {
  if (r.role !== Role.Leader) return refuse(r, 'NOT_LEADER', `${r.id} is not the leader (${r.role}, term ${r.term})`);
  if (r.leadTransferee !== NONE) return refuse(r, 'TRANSFERRING', `leadership is being transferred to ${r.leadTransferee}`);
  const busy = inFlight(r);
  if (busy !== null) return refuse(r, 'CONF_CHANGE_IN_FLIGHT', busy);
  const conf = r.conf;
  const next = applyConfChange(conf, cc);
  if (typeof next === 'string') return refuse(r, 'BAD_CONF_CHANGE', `${cc.op} ${cc.node}: ${next}`);
  const promotes = conf.learners.includes(cc.node) && next.voters.includes(cc.node);
  if (promotes) {
    const why = lagging(r, cc);
    if (why !== null) return refuse(r, 'LEARNER_LAGGING', `${cc.op} ${cc.node}: ${why}`);
  }
  const quorumRisk = cc.op === 'remove' || (next.voters.length > conf.voters.length && majority(next.voters.length) > majority(conf.voters.length));
  if (!force && quorumRisk) {
    const why = liveQuorum(r, next);
    if (why !== null) return refuse(r, 'NO_LIVE_QUORUM', `${cc.op} ${cc.node}: ${why}; force to do it anyway`);
  }
  const index = r.log.lastIndex() + 1;
  const data = encodeConfChangeEntry({ op: cc.op, node: cc.node, context: cc.context, conf: next });
  const e: Entry = { index, term: r.term, type: EntryType.ConfChange, data };
  r.pendingConfIndex = index;
  r.log.append([e]);
  r.uncommittedBytes += data.byteLength;
  r.pendingBcast = true;
  return { ok: true, term: r.term, firstIndex: index, lastIndex: index };
}
