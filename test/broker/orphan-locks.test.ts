// A new master releases the queue locks of holders that have not heartbeated it within
// CONSUMER_HEARTBEAT_TIMEOUT_MS of its term's start (members that died before or during the
// failover: the old master never saw them go), once per term, and never a live member's.
import t from 'tap';
import { ConsumerGroupService } from '../../src/broker/index.ts';
import { CONSUMER_HEARTBEAT_TIMEOUT_MS } from '../../src/protocol/index.ts';
import { Role } from '../../src/raft/index.ts';

t.test('orphaned locks go once per term, CONSUMER_HEARTBEAT_TIMEOUT_MS after it began; live members keep theirs', async (t) => {
  let now = 1_000_000;
  const role = { role: Role.Leader, leaderId: 'n0', term: 5 };
  const calls: string[][] = [];
  const holders = [
    { group: 'g', clientId: 'alive' },
    { group: 'g', clientId: 'dead' },
  ];
  const service = new ConsumerGroupService({
    replica: { role, status: () => ({}) as never },
    nodeId: 'n0',
    notMaster: () => new Error('not master'),
    now: () => now,
    releaseOrphanLocks: (isMember) => calls.push(holders.filter((h) => !isMember(h.group, h.clientId)).map((h) => h.clientId)),
  });
  const conn = { id: 1, remoteAddress: '127.0.0.1:5', closed: false, onClose: () => undefined };
  service.sweep(); // the term is seen
  service.heartbeat({ type: 'heartbeat', id: 1, group: 'g', clientId: 'alive', consumeModel: 'CLUSTERING', subscriptions: [] }, conn as never);
  now += CONSUMER_HEARTBEAT_TIMEOUT_MS - 1;
  service.heartbeat({ type: 'heartbeat', id: 2, group: 'g', clientId: 'alive', consumeModel: 'CLUSTERING', subscriptions: [] }, conn as never);
  service.sweep();
  t.same(calls, [], 'not before every live member had its heartbeat window');
  now += 1;
  service.sweep();
  t.same(calls, [['dead']], "the holder that never heartbeated loses its locks; the live member keeps its own");
  now += 10_000;
  service.heartbeat({ type: 'heartbeat', id: 3, group: 'g', clientId: 'alive', consumeModel: 'CLUSTERING', subscriptions: [] }, conn as never);
  service.sweep();
  t.equal(calls.length, 1, 'once per term');
  role.term = 6; // a later term of this master (it lost and regained the role)
  service.sweep();
  now += CONSUMER_HEARTBEAT_TIMEOUT_MS;
  service.heartbeat({ type: 'heartbeat', id: 4, group: 'g', clientId: 'alive', consumeModel: 'CLUSTERING', subscriptions: [] }, conn as never);
  service.sweep();
  t.same(calls, [['dead'], ['dead']], 'again in the new term');
  service.stop();
});
