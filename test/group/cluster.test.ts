// A cluster of broker groups on real processes: two NameServers, two groups of 3 replicas, a topic
// over both, producers at full load routed by the NameServers. SIGKILL of group A's master: no
// send fails (unkeyed sends go on through group B; sends in flight to A and keyed sends for A's
// queues wait for A's new master); then both NameServers die: sends go on from cached routes;
// restarted empty, they are refilled by the next registrations. At the end every acknowledged
// message is stored exactly once (the idempotent producer's retries stored nothing twice).
import t from 'tap';
import { ClusterAdmin, NamesrvClient, Producer, PullConsumer, keyHash } from '../../src/client/index.ts';
import { LocalClusterSet } from '../../src/cli/index.ts';

/** Liveness guards, many times what each step takes. */
const ROUTE_WAIT_MS = 20_000;
const RESUME_WAIT_MS = 15_000;
const TOPIC = 'orders';
const QUEUES = 4;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await sleep(100);
  }
  throw new Error(`${what}: not within ${timeoutMs} ms${last ? ` (last error: ${(last as Error).message})` : ''}`);
}

t.test('two groups behind two NameServers: a master SIGKILL and dead NameServers fail no send, and nothing is stored twice', async (t) => {
  const set = await LocalClusterSet.create({ groups: 2, nodes: 3, namesrvs: 2, extra: { registerNameServerPeriod: '1000' } });
  t.teardown(() => set.destroy());
  await set.waitForMasters();
  const namesrv = set.namesrvs.map((n) => n.addr);
  const admin = new ClusterAdmin({ namesrv });
  const ns = new NamesrvClient({ namesrv, requestTimeoutMs: 1000 });
  t.teardown(() => Promise.all([admin.close(), ns.close()]));

  await until('both groups registered', ROUTE_WAIT_MS, async () => ((await admin.groups()).length === 2 ? true : undefined));
  const created = await admin.updateTopic(TOPIC, QUEUES);
  t.same(created.map((g) => g.error ?? null), [null, null], 'the topic is created on both groups');
  const route = await until('the route names both groups', ROUTE_WAIT_MS, async () => {
    const r = await ns.topicRoute(TOPIC);
    return r.queueDatas.length === 2 ? r : undefined;
  });
  t.same(route.queueDatas.map((q) => [q.brokerName, q.writeQueueNums]), [['broker-a', QUEUES], ['broker-b', QUEUES]]);

  const producer = new Producer({ namesrv, sendTimeoutMs: 10_000 });
  t.teardown(() => producer.close());
  // A key on broker-a's queues (the first QUEUES of the 2 x QUEUES in the list).
  let keyA = 'a';
  for (let i = 0; keyHash(keyA) % (2 * QUEUES) >= QUEUES; i++) keyA = `a${i}`;

  const acked = new Map<string, number>(); // id -> ack time
  const keyedAcks: number[] = [];
  const failures: string[] = [];
  let stop = false;
  let n = 0;
  const unkeyed = async () => {
    while (!stop) {
      const id = `u${n++}`;
      try {
        await producer.send(TOPIC, { body: Buffer.from(id) });
        acked.set(id, Date.now());
      } catch (err) {
        failures.push(`${id}: ${(err as Error).message}`);
      }
    }
  };
  const keyed = async () => {
    while (!stop) {
      const id = `k${n++}`;
      try {
        await producer.send(TOPIC, { body: Buffer.from(id), keys: keyA });
        acked.set(id, Date.now());
        keyedAcks.push(Date.now());
      } catch (err) {
        failures.push(`${id}: ${(err as Error).message}`);
      }
    }
  };
  const loops = [...Array.from({ length: 8 }, unkeyed), keyed()];
  await sleep(1500);

  // SIGKILL the master of broker-a.
  const groupA = set.group('broker-a');
  const oldMaster = await groupA.waitForMaster();
  const killedAt = Date.now();
  await groupA.kill(oldMaster.nodeId);
  const newMaster = await groupA.waitForMaster(RESUME_WAIT_MS, oldMaster.nodeId);
  t.not(newMaster.nodeId, oldMaster.nodeId, `broker-a elected ${newMaster.nodeId}`);
  await until('keyed sends for broker-a resume', RESUME_WAIT_MS, async () => (keyedAcks.some((at) => at > killedAt) ? true : undefined));
  const resumedAfter = keyedAcks.find((at) => at > killedAt)! - killedAt;
  t.comment(`keyed sends for broker-a resumed ${resumedAfter} ms after the kill`);
  const ackedAfterKill = [...acked.values()].filter((at) => at > killedAt).length;
  t.ok(ackedAfterKill > 0, `${ackedAfterKill} sends acknowledged since the kill`);

  // Both NameServers die: sends go on from cached routes.
  await set.killNamesrv(0);
  await sleep(300);
  await set.killNamesrv(1);
  const before = acked.size;
  await sleep(1500);
  t.ok(acked.size > before, `${acked.size - before} sends acknowledged with every NameServer down`);

  // Restarted empty, they are refilled by the next registrations.
  await set.startNamesrv(0);
  await set.startNamesrv(1);
  for (const addr of namesrv) {
    const one = new NamesrvClient({ namesrv: [addr], requestTimeoutMs: 1000 });
    try {
      const r = await until(`${addr} knows the route again`, ROUTE_WAIT_MS, async () => {
        const x = await one.topicRoute(TOPIC);
        return x.queueDatas.length === 2 && x.brokerDatas.every((b) => b.brokerAddrs['0'] !== undefined) ? x : undefined;
      });
      t.equal(r.brokerDatas.find((b) => b.brokerName === 'broker-a')!.brokerAddrs['0'], groupA.node(newMaster.nodeId).clientAddr, `${addr}: broker-a's master is the new one`);
    } finally {
      await one.close();
    }
  }
  await sleep(500);
  stop = true;
  await Promise.all(loops);
  t.same(failures.slice(0, 5), [], `no send failed (${failures.length} failures of ${acked.size + failures.length})`);

  // Every acknowledged message is stored, once.
  const consumer = new PullConsumer({ namesrv, group: 'checker' });
  t.teardown(() => consumer.close());
  const seen = new Map<string, number>();
  for await (const m of consumer.messages(TOPIC, { fromBeginning: true, idleTimeoutMs: 3000, maxCount: 256 })) {
    const id = Buffer.from(m.body).toString();
    seen.set(id, (seen.get(id) ?? 0) + 1);
  }
  const lost = [...acked.keys()].filter((id) => !seen.has(id));
  const twice = [...seen].filter(([, c]) => c > 1).map(([id]) => id);
  t.same(lost.slice(0, 5), [], `lost: ${lost.length} of ${acked.size} acknowledged`);
  t.same(twice.slice(0, 5), [], `stored twice: ${twice.length}`);
  const groupsSeen = new Set<string>();
  for await (const m of consumer.messages(TOPIC, { fromBeginning: true, idleTimeoutMs: 500, maxCount: 1 })) {
    groupsSeen.add(m.brokerName ?? '');
    if (groupsSeen.size === 2) break;
  }
  t.same([...groupsSeen].sort(), ['broker-a', 'broker-b'], 'messages were stored on both groups');
});
