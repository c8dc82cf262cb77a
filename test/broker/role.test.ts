import t from 'tap';
import { brokerIdOf, brokerRoleOf, MASTER_BROKER_ID } from '../../src/broker/index.ts';
import { Role } from '../../src/raft/index.ts';

const PEERS = ['n0', 'n1', 'n2'];

t.test('the Raft leader is the MASTER with brokerId 0', async (t) => {
  t.equal(brokerRoleOf(Role.Leader), 'MASTER');
  for (const id of PEERS) t.equal(brokerIdOf(Role.Leader, id, PEERS), MASTER_BROKER_ID);
});

t.test('every other Raft role is a SLAVE with a stable brokerId above 0', async (t) => {
  for (const role of [Role.Follower, Role.Candidate, Role.PreCandidate]) {
    t.equal(brokerRoleOf(role), 'SLAVE', role);
    t.same(PEERS.map((id) => brokerIdOf(role, id, PEERS)), [1, 2, 3], role);
  }
  t.throws(() => brokerIdOf(Role.Follower, 'n9', PEERS), TypeError);
});
