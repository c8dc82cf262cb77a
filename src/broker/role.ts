// Role pass-through (RocketMQ on DLedger): the Raft leader is the group's MASTER (brokerId 0);
// every other replica is a SLAVE with a stable brokerId > 0.
import { type NodeId, Role } from '../raft/index.ts';

export type BrokerRole = 'MASTER' | 'SLAVE';

/** brokerId of the master, as in RocketMQ. */
export const MASTER_BROKER_ID = 0;

/** Leader -> MASTER; Follower, Candidate, PreCandidate -> SLAVE. */
export function brokerRoleOf(raftRole: Role): BrokerRole {
  return raftRole === Role.Leader ? 'MASTER' : 'SLAVE';
}

/** The brokerId a replica reports: 0 while it is the Raft leader, otherwise its 1-based
 *  position in the peer list (dLegerPeers order). The slave id does not depend on who leads,
 *  so it stays stable across elections. Throws a TypeError if `self` is not a peer. */
export function brokerIdOf(raftRole: Role, self: NodeId, peers: readonly NodeId[]): number {
  if (raftRole === Role.Leader) return MASTER_BROKER_ID;
  const position = peers.indexOf(self);
  if (position < 0) throw new TypeError(`node ${self} is not one of the peers (${peers.join(', ')})`);
  return position + 1;
}
