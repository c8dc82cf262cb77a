// This replica's view of its group's membership, as node.ts wires it: where members are
// (MemberDirectory), which peers the transport dials, who was removed (and is told so when it
// calls), and what happens when a configuration entry is appended or applied.
import type { Entry, NodeId, RaftStatus } from '../raft/index.ts';
import { decodeConfChangeEntry } from '../raft/index.ts';
import type { BrokerConfig, PeerAddress } from './config.ts';
import type { Logger } from './logger.ts';
import type { MembersView } from './member-requests.ts';
import { MemberDirectory, isMember, membershipOf, splitAddress, type Membership } from './membership.ts';
import type { PeerTransport } from './peer-transport.ts';
import type { BrokerStateMachine } from './state-machine.ts';

/** How long peers are still dialled after their removal applied: the notice telling them must
 *  get out first. */
const REMOVED_PEER_LINGER_MS = 2000;

/**
 * This replica's view of its group's membership: where members are (MemberDirectory), which
 * peers the transport dials (the members of the configurations appended and applied, or the seed
 * until there is one), and who was removed (told when they call).
 */
export interface NodeMembers {
  readonly view: MembersView;
  peers(): PeerAddress[];
  bindTransport(t: PeerTransport): void;
  /** Configuration entries appended to the log (not yet committed). */
  appended(entries: readonly Entry[]): void;
  /** A configuration entry applied. */
  applied(m: Membership, onRemoved: (index: number) => void): void;
  /** This replica joins a running group and has been sent no configuration yet (dLegerJoin). */
  joining(): boolean;
  /** The index of the entry that removed `peer`, if it did (and is still kept). */
  removedAt(peer: NodeId): number | null;
}

export function createMembers(config: BrokerConfig, stateMachine: BrokerStateMachine, raft: { status(): Pick<RaftStatus, 'conf' | 'leaderId' | 'leaderCommit'> }, logger: Logger): NodeMembers {
  const self = config.dLegerSelfId;
  const clientOf = new Map(config.clientPeers.map((p) => [p.id, `${p.host}:${p.port}`]));
  const directory = new MemberDirectory(config.dLegerPeers.map((p) => ({ id: p.id, peerAddr: `${p.host}:${p.port}`, clientAddr: clientOf.get(p.id) ?? '' })));
  if (stateMachine.membership !== null) directory.note(stateMachine.membership);
  const removed = new Map<NodeId, number>();
  let transport: PeerTransport | undefined;
  /** Peers whose removal applied, still dialled until the notice got out. */
  const lingering = new Set<NodeId>();
  const peers = (): PeerAddress[] => {
    const conf = raft.status().conf;
    const ids = new Set<NodeId>([...conf.voters, ...conf.learners, ...lingering]);
    const applied = stateMachine.membership;
    if (applied !== null) for (const id of [...applied.voters, ...applied.learners]) ids.add(id);
    if (directory.configIndex === 0) for (const p of config.dLegerPeers) ids.add(p.id);
    ids.delete(self);
    return directory.addressesOf(ids).map((a) => ({ id: a.id, ...splitAddress(a.peerAddr) }));
  };
  const refresh = (): void => transport?.setPeers(peers());
  return {
    view: { conf: () => raft.status().conf, configIndex: () => directory.configIndex, directory },
    peers,
    bindTransport: (t) => {
      transport = t;
    },
    appended: (entries) => {
      for (const e of entries) {
        const m = membershipOf(e.index, decodeConfChangeEntry(e.data));
        if (typeof m === 'string') logger.warn({ index: e.index, problem: m }, 'a configuration entry names no usable addresses');
        else directory.note(m);
      }
      refresh();
    },
    applied: (m, onRemoved) => {
      directory.note(m);
      if (m.change?.op === 'remove') {
        const gone = m.change.node;
        removed.set(gone, m.index);
        if (gone === self) {
          // Unless this is history: a replica that joins under a removed one's name replays that
          // removal, and the entry that added it back is later in the log (appended here, or
          // committed and still to come).
          const st = raft.status();
          if (!isMember(st.conf, self) && !(st.leaderId !== '' && st.leaderCommit > m.index)) onRemoved(m.index);
          return;
        }
        transport?.tellRemoved(gone, m.index);
        lingering.add(gone);
        setTimeout(() => {
          lingering.delete(gone);
          refresh();
        }, REMOVED_PEER_LINGER_MS).unref();
      } else if (m.change !== undefined) removed.delete(m.change.node);
      refresh();
    },
    joining: () => directory.configIndex === 0 && !isMember(raft.status().conf, self),
    removedAt: (peer) => removed.get(peer) ?? null,
  };
}
