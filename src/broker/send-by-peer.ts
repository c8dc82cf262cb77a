// How the replica hands one Ready's messages to the transport: Snapshot messages to the snapshot
// sender (their bytes stream separately), the rest grouped by peer, one send (one frame, or a few
// for a large catch-up) per peer.
import { MessageType, type Message, type NodeId } from '../raft/index.ts';
import type { PeerSender, SnapshotDriver } from './replica-options.ts';

export function sendByPeer(messages: readonly Message[], peers: PeerSender, snapshots: SnapshotDriver | undefined): void {
  if (snapshots !== undefined && messages.some((m) => m.type === MessageType.Snapshot)) {
    const rest: Message[] = [];
    for (const m of messages) {
      if (m.type === MessageType.Snapshot) snapshots.send(m);
      else rest.push(m);
    }
    if (rest.length === 0) return;
    messages = rest;
  }
  if (messages.length === 1) {
    peers.send(messages[0].to, [messages[0]]);
    return;
  }
  const byPeer = new Map<NodeId, Message[]>();
  for (const m of messages) {
    const list = byPeer.get(m.to);
    if (list) list.push(m);
    else byPeer.set(m.to, [m]);
  }
  for (const [to, list] of byPeer) peers.send(to, list);
}
