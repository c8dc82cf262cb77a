// The replica <-> replica wire: the same framing as the client wire (net/frame-codec.ts), on the
// Raft listener. Raft messages travel as the core's own type; entry bodies as blobs.
import type { Message as RaftMessage } from '../raft/index.ts';

/** Version of the replica-to-replica protocol; a peer speaking another one is refused at hello
 *  (2: entry bodies travel as raw blobs after the frame's msgpack part; 4: snapshot transfers;
 *  5: membership change and ReadIndex: configuration entries, Message.context and .conf). */
export const PEER_PROTOCOL_VERSION = 5;

/** First frame on a peer connection: who is calling, so the receiver can route replies. */
export interface PeerHello {
  type: 'hello';
  id: 0;
  /** PEER_PROTOCOL_VERSION of the caller (absent: version 1). */
  protocol: number;
  group: string;
  nodeId: string;
  /** host:port of the caller's client listener: lets replicas answer NOT_MASTER with an address. */
  clientAddr: string;
  /** The caller's dLegerPeers, canonical (`id-host:port` sorted by id, `;`-joined): replicas
   *  whose lists differ say so loudly (a mistyped address silently breaks elections). */
  peers?: string;
  /** Log index of the configuration the caller runs on (0 or absent: its dLegerPeers seed). */
  configIndex?: number;
  /** host:port of the caller's Raft listener: a replica joining a group, which knows no
   *  configuration yet, learns from it where to answer a master it has not heard of. */
  peerAddr?: string;
}
/** Raft messages for one peer produced in one turn of the driver loop (one frame, or several
 *  for a large catch-up). Sent on the connection to that peer, or back on the connection it
 *  opened to us when ours cannot reach it. */
export interface PeerRaft {
  type: 'raft';
  id: 0;
  msgs: RaftMessage[];
}
/** What a replica tells a peer about the peer's own configuration: why its hello was refused
 *  (then the connection closes), or that their peer lists differ. The receiver logs it. */
export interface PeerNotice {
  type: 'notice';
  id: 0;
  reason: string;
  /** The receiver was removed from the group by the configuration entry at this log index, which
   *  the sender applied (so it is committed): the receiver stops. */
  removedAt?: number;
}
/** One chunk of a snapshot (a retention mark's state) from the master to a follower behind the
 *  start of its log; the chunk's bytes are the frame's blob. `msg` is the Raft Snapshot message
 *  the follower's core is given once every byte is in. Sent on the connection to that peer. */
export interface PeerSnapChunk {
  type: 'snap';
  id: 0;
  msg: RaftMessage;
  /** Where the chunk starts in the snapshot's bytes, and their total. */
  offset: number;
  total: number;
  /** crc32 of this chunk's bytes. */
  crc: number;
}
/** The follower's answer to each chunk, back on the connection the chunk came on: it holds the
 *  snapshot (index, term) up to `next` (a chunk it did not expect rewinds the master to there,
 *  which is also how a transfer resumes after a dropped connection). */
export interface PeerSnapAck {
  type: 'snapAck';
  id: 0;
  index: number;
  term: number;
  next: number;
}
export type PeerFrame = PeerHello | PeerRaft | PeerNotice | PeerSnapChunk | PeerSnapAck;
