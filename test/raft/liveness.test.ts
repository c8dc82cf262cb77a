// Liveness under partial connectivity: a group in which a majority can talk elects a leader,
// whatever other links are cut and whichever nodes are down.
import t from 'tap';
import { Role } from '../../src/raft/index.ts';
import { Network, ids } from './helpers.ts';

const P5 = ids(5);

/** n3 (the leader) and n4 go down, the n0-n2 link is cut: only n1 reaches both others. */
function bridgeAfterLeaderLoss(reportUnreachable: boolean): Network {
  const net = new Network(P5);
  net.campaign('n3');
  net.propose('n3', 'a');
  net.isolate('n3');
  net.isolate('n4');
  net.cut('n0', 'n2');
  if (reportUnreachable) for (const id of ['n0', 'n1', 'n2']) net.node(id).reportUnreachable('n3');
  return net;
}

for (const report of [false, true]) {
  t.test(`5 nodes, 2 down, the n0-n2 link cut (leader loss ${report ? 'reported by the transport' : 'found by timeout'}): n1, reaching both, is elected`, async (t) => {
    const net = bridgeAfterLeaderLoss(report);
    let leader = '';
    let ticks = 0;
    for (; ticks < 200 && leader === ''; ticks++) {
      for (const id of ['n0', 'n1', 'n2']) net.node(id).tick();
      net.stabilize();
      leader = ['n0', 'n1', 'n2'].find((id) => net.node(id).status().role === Role.Leader) ?? '';
    }
    t.equal(leader, 'n1', `n1 elected after ${ticks} ticks (a pre-candidate must not refuse a higher id with an equal log for good)`);
  });
}
