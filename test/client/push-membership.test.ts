// A member takes the member list of a new membership master (a failover: its numbering `instance`
// changes) only after NEW_MASTER_VIEW_GRACE_MS, by when every live member has heartbeated it, so
// the group does not rebalance onto the first members to get there and back.
import t from 'tap';
import { GroupMembership, type Brokers } from '../../src/client/index.ts';

t.test("a new master's member list waits out its grace; the first list and a newer version of the same master are taken at once", async (t) => {
  const answers: { instance: string; version: number; clientIds: string[] }[] = [];
  const client = { callMaster: async () => ({ type: 'consumerGroup', id: 0, view: { group: 'G', ...answers.shift()! } }) };
  const brokers = { client: () => client } as unknown as Brokers;
  let changes = 0;
  const m = new GroupMembership({
    group: 'G',
    clientId: 'a',
    consumeModel: 'CLUSTERING',
    brokers,
    requestTimeoutMs: 1000,
    subscriptions: () => [],
    brokerNames: () => ['broker-a'],
    onChange: () => changes++,
    newMasterGraceMs: 100,
  });
  const beat = async (instance: string, version: number, clientIds: string[]) => {
    answers.push({ instance, version, clientIds });
    await m.heartbeat();
  };
  await beat('i1', 1, ['a', 'b', 'c']);
  t.strictSame(m.clientIds, ['a', 'b', 'c'], 'the first list is taken');
  await beat('i1', 2, ['a', 'b']);
  t.strictSame(m.clientIds, ['a', 'b'], 'a newer version of the same master is taken');
  await beat('i2', 1, ['a']);
  t.strictSame(m.clientIds, ['a', 'b'], "a new master's first list is not taken at once (b has not heartbeated it yet)");
  await new Promise((r) => setTimeout(r, 120));
  await beat('i2', 2, ['a', 'b']);
  t.strictSame(m.clientIds, ['a', 'b'], 'after the grace it is taken');
  t.equal(changes, 2, 'onChange for the first list and for c leaving; none for the new master, whose members are the same');
});
