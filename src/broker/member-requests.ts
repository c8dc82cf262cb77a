// The membership requests of the client listener: `members` (any replica, from its own view) and
// `memberChange` (the master proposes the configuration change; see src/raft). A new member's
// addresses travel in the change's context, so every replica learns them from the same entry.
import type { ConfChange, ConfState, NodeId, RaftStatus } from '../raft/index.ts';
import { Role } from '../raft/index.ts';
import { RaftmqError, type MemberChangeRequest, type MemberInfo, type MembersInfo } from '../protocol/index.ts';
import { addressProblem, encodeMemberContext, isMember, NODE_ID_PATTERN, type MemberAddress, type MemberDirectory } from './membership.ts';

/** What the server sees of the membership (node.ts wires it). */
export interface MembersView {
  /** The configuration in force here: the latest in this replica's log. */
  conf(): ConfState;
  /** The log index it took effect at (0: the dLegerPeers seed). */
  configIndex(): number;
  readonly directory: MemberDirectory;
}

/** Replica ids for routes and brokerIds: the seed's order first (stable brokerIds for a group
 *  that never changed), then members added later by id, then `self` if it is none of them (a
 *  replica joining, or removed). */
export function replicaIdsOf(conf: ConfState, seedOrder: readonly NodeId[], self: NodeId): NodeId[] {
  const members = new Set([...conf.voters, ...conf.learners]);
  const out = seedOrder.filter((id) => members.has(id));
  const rest = [...members].filter((id) => !seedOrder.includes(id)).sort();
  out.push(...rest);
  if (!members.has(self)) out.push(self);
  return out;
}

/** The `members` answer: the configuration, addresses, and (on the master) each one's progress. */
export function membersInfoOf(self: NodeId, view: MembersView, st: RaftStatus, advertisedAddr: string, changePending: boolean): MembersInfo {
  const conf = view.conf();
  const onMaster = st.role === Role.Leader;
  const row = (id: NodeId, kind: 'VOTER' | 'LEARNER'): MemberInfo => {
    const a = view.directory.get(id);
    const pr = st.progress[id];
    const match = !onMaster ? null : id === self ? st.lastIndex : (pr?.match ?? 0);
    return {
      nodeId: id,
      peerAddr: a?.peerAddr ?? '',
      clientAddr: id === self ? advertisedAddr : (a?.clientAddr ?? ''),
      kind,
      isMaster: st.leaderId === id,
      match,
      lag: match === null ? null : Math.max(0, st.lastIndex - match),
      active: !onMaster ? null : id === self ? true : (pr?.recentActive ?? false),
    };
  };
  return {
    answeredBy: self,
    configIndex: view.configIndex(),
    changePending,
    members: [...conf.voters.map((id) => row(id, 'VOTER')), ...conf.learners.map((id) => row(id, 'LEARNER'))],
  };
}

/** The core's change for a request, with the context of the configuration it makes (every
 *  member's addresses). Throws BAD_REQUEST for malformed input or a change that names the wrong
 *  kind of member (the core checks the rest: one change at a time, lagging learners, quorum). */
export function confChangeOf(req: MemberChangeRequest, view: MembersView, self: NodeId, selfAddress: MemberAddress): ConfChange {
  const node = req.nodeId;
  if (typeof node !== 'string' || !NODE_ID_PATTERN.test(node)) throw new RaftmqError('BAD_REQUEST', `member id ${JSON.stringify(String(node)).slice(0, 80)} is not 1-64 letters, digits or _`);
  const conf = view.conf();
  const members = [...conf.voters, ...conf.learners];
  const addresses = new Map<NodeId, MemberAddress>();
  for (const a of view.directory.addressesOf(members)) addresses.set(a.id, a);
  addresses.set(self, selfAddress);
  switch (req.op) {
    case 'add': {
      if (isMember(conf, node)) throw new RaftmqError('BAD_REQUEST', `${node} is already a ${conf.voters.includes(node) ? 'voter' : 'learner'} of this group`);
      const problem = addressProblem(req.peerAddr) ?? addressProblem(req.clientAddr);
      if (problem !== null) throw new RaftmqError('BAD_REQUEST', `member add ${node}: ${problem}`);
      for (const a of addresses.values()) {
        if (a.peerAddr === req.peerAddr || a.clientAddr === req.clientAddr) throw new RaftmqError('BAD_REQUEST', `member add ${node}: ${a.peerAddr === req.peerAddr ? req.peerAddr : req.clientAddr} is already ${a.id}'s address`);
      }
      addresses.set(node, { id: node, peerAddr: req.peerAddr, clientAddr: req.clientAddr });
      return { op: 'addLearner', node, context: encodeMemberContext([...addresses.values()]) };
    }
    case 'promote':
      if (!conf.learners.includes(node)) throw new RaftmqError('BAD_REQUEST', conf.voters.includes(node) ? `${node} is already a voter` : `${node} is not a member of this group`);
      return { op: 'promote', node, context: encodeMemberContext([...addresses.values()]) };
    case 'remove':
      if (!isMember(conf, node)) throw new RaftmqError('BAD_REQUEST', `${node} is not a member of this group`);
      addresses.delete(node);
      return { op: 'remove', node, context: encodeMemberContext([...addresses.values()]) };
    default:
      throw new RaftmqError('BAD_REQUEST', `memberChange op ${JSON.stringify(String((req as { op: unknown }).op)).slice(0, 40)} is not add, promote or remove`);
  }
}
