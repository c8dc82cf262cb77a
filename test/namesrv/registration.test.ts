// Multi-process: a real broker group (three `raftmq node` processes, namesrvAddr pointing at an
// in-process NameServer) registers every replica; a new master is registered as brokerId 0
// soon after the old one is killed; a short registerNameServerPeriod renews; a topic created on
// the group shows in its route; a replica stopped cleanly unregisters.
import t from 'tap';
import { Admin } from '../../src/client/index.ts';
import { LocalCluster } from '../../src/cli/index.ts';
import { NamesrvServer } from '../../src/namesrv/index.ts';
import type { BrokerData } from '../../src/protocol/index.ts';
import { sleep } from '../helpers/group-io.ts';

const PERIOD_MS = 300;
/** Liveness guard for what takes an election and a registration (well under a second here). */
const FAILOVER_MS_MAX = 10_000;

async function until<T>(what: string, get: () => T | undefined | null | false, timeoutMs = FAILOVER_MS_MAX): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = get();
    if (v !== undefined && v !== null && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(5);
  }
}

t.test('a group registers every replica, its new master as id 0 after a kill, renews, and unregisters on a clean stop', async (t) => {
  const ns = await NamesrvServer.start({ host: '127.0.0.1', port: 0 });
  t.teardown(() => ns.close());
  const cluster = await LocalCluster.create({ nodes: 3, extra: { namesrvAddr: ns.addr, registerNameServerPeriod: String(PERIOD_MS) } });
  t.teardown(() => cluster.destroy());
  const group = (): BrokerData | undefined => ns.table.brokerDatas(performance.now()).find((b) => b.brokerName === 'broker-a');

  const master = await cluster.waitForMaster();
  const masterAddr = cluster.node(master.nodeId).clientAddr;
  const registered = await until('every replica registered, the master as id 0', () => {
    const g = group();
    return g !== undefined && g.replicas.length === 3 && g.brokerAddrs[0] === masterAddr && g;
  });
  t.equal(registered.cluster, 'DefaultCluster');
  cluster.nodes.forEach((n, i) => {
    const replica = registered.replicas.find((r) => r.nodeId === n.id);
    t.equal(replica?.addr, n.clientAddr, `${n.id} registered its client address`);
    if (n.id !== master.nodeId) t.equal(registered.brokerAddrs[i + 1], n.clientAddr, `slave ${n.id} is brokerId ${i + 1} (its place in dLegerPeers)`);
  });

  const admin = new Admin({ servers: cluster.servers });
  t.teardown(() => admin.close());
  await admin.createTopic('Orders', 3);
  const route = await until('the new topic in the route', () => ns.table.topicRoute('Orders', performance.now()), 5000);
  t.same(route.queueDatas.map((q) => [q.brokerName, q.readQueueNums, q.writeQueueNums]), [['broker-a', 3, 3]]);

  // Renewals every PERIOD_MS: nobody stays silent long, and nothing a client sees changes (once
  // the slaves too have registered the new topic, a moment after the master).
  await sleep(3 * PERIOD_MS);
  const version = ns.table.version;
  await sleep(4 * PERIOD_MS);
  const silentMs = Math.max(...group()!.replicas.map((r) => r.silentMs));
  t.ok(silentMs < 3 * PERIOD_MS, `every replica renewed (the most silent: ${Math.round(silentMs)} ms)`);
  t.equal(ns.table.version, version, 'renewals move no version');

  // SIGKILL the master: the new one registers as id 0, and the dead one is no longer id 0.
  const killedAt = Date.now();
  await cluster.kill(master.nodeId);
  const newMasterAddr = await until('a new master as id 0', () => {
    const id0 = group()?.brokerAddrs[0];
    return id0 !== undefined && id0 !== masterAddr && id0;
  });
  const failoverMs = Date.now() - killedAt;
  t.comment(`new master registered as id 0 ${failoverMs} ms after the SIGKILL`);
  const newMaster = await cluster.waitForMaster(20_000, master.nodeId);
  t.equal(newMasterAddr, cluster.node(newMaster.nodeId).clientAddr, 'id 0 is the master the group elected');
  t.ok(failoverMs < FAILOVER_MS_MAX);

  // A clean stop of the remaining slave unregisters it at once (no 120 s expiry wait).
  const slave = cluster.nodes.find((n) => n.id !== master.nodeId && n.id !== newMaster.nodeId)!;
  await cluster.stop(slave.id);
  await until('the stopped slave unregistered', () => !group()?.replicas.some((r) => r.nodeId === slave.id), 5000);
  t.pass(`${slave.id} is gone from the route`);
});
