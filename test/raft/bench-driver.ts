// A lean 3-node, no-I/O driver for measuring core throughput (used by perf.test.ts).

import { MemoryStorage, RaftNode, type Message, Role } from '../../src/raft/index.ts';
import { ids, makeConfig } from './helpers.ts';

export interface BenchResult {
  entries: number;
  seconds: number;
  entriesPerSecond: number;
}

/** Commits `entryCount` entries of `entryBytes` in batches of `batchCount`, `batchesPerTurn`
 *  proposals per driver turn. */
export function runCoreBench(entryCount: number, batchCount = 64, entryBytes = 1024, batchesPerTurn = 16): BenchResult {
  const peers = ids(3);
  const storages = new Map(peers.map((id) => [id, new MemoryStorage()]));
  const nodes = new Map(peers.map((id) => [id, new RaftNode(makeConfig(id, peers), storages.get(id)!)]));
  const leader = nodes.get('n0')!;
  const inbox: Message[] = [];
  let applied = 0;
  const turn = () => {
    for (const [id, node] of nodes) {
      if (!node.hasReady()) continue;
      const rd = node.ready();
      const st = storages.get(id)!;
      for (const m of rd.messages) inbox.push(m);
      if (rd.hardState !== null) st.setHardState(rd.hardState);
      st.append(rd.entries);
      for (const m of rd.persistedMessages) inbox.push(m);
      if (id === 'n0') applied += rd.committedEntries.length;
      node.advance(rd);
    }
    for (let i = 0; i < inbox.length; i++) nodes.get(inbox[i].to)!.step(inbox[i]);
    inbox.length = 0;
  };
  leader.campaign();
  for (let i = 0; i < 20 && leader.status().role !== Role.Leader; i++) turn();
  for (let i = 0; i < 5; i++) turn();
  const base = applied;
  const body = new Uint8Array(entryBytes);
  const batch: Uint8Array[] = new Array(batchCount).fill(body);
  let proposed = 0;
  const start = process.hrtime.bigint();
  while (applied - base < entryCount) {
    for (let b = 0; b < batchesPerTurn && proposed < entryCount; b++) {
      const r = leader.propose(batch);
      if (!r.ok) break;
      proposed += batchCount;
    }
    turn();
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return { entries: applied - base, seconds, entriesPerSecond: (applied - base) / seconds };
}
