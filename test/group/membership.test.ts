// Membership change on a running group of real processes, under load (issue 21): a dead replica
// is replaced (a new one added as a learner, caught up, promoted; the dead one removed), then the
// same with the master as the dead one; then the group grows 3 -> 5 and shrinks 5 -> 3, the
// master among the removed. Nothing acknowledged is lost, the group is never without a master
// for longer than a failover, removed replicas stop and say so, and every member ends with the
// same queues. The figures (time from `member add` to caught up, writes during the change) are
// printed.
import t, { type Test } from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { Admin, Producer } from '../../src/client/index.ts';
import type { ReadConsistency, StoredMessage } from '../../src/protocol/index.ts';
import { Connection } from '../../src/net/index.ts';
import { LocalCluster } from '../../src/cli/index.ts';
import { bodyText, ContinuousLoad, queuesFingerprint, readAll, sendLoad, sleep } from '../helpers/group-io.ts';

const QUEUES = 4;
const TOPIC = 'members';

/** How long no replica said MASTER, at most, while `during` ran (polled every 20 ms). */
async function longestWithoutMaster(cluster: LocalCluster, during: () => Promise<void>): Promise<{ gapMs: number }> {
  let done = false;
  let lastSeen = Date.now();
  let gapMs = 0;
  const watch = (async () => {
    while (!done) {
      const sts = await cluster.statuses();
      if (sts.some((s) => s?.role === 'MASTER')) {
        gapMs = Math.max(gapMs, Date.now() - lastSeen);
        lastSeen = Date.now();
      }
      await sleep(20);
    }
  })();
  try {
    await during();
  } finally {
    done = true;
    await watch;
  }
  return { gapMs: Math.max(gapMs, Date.now() - lastSeen) };
}

/** How many messages queue 0 of TOPIC holds, as `addr` answers a pull with `consistency`. */
async function storedCount(addr: string, consistency: ReadConsistency): Promise<number> {
  const [host, port] = addr.split(':');
  const conn = new Connection({ host, port: Number(port), reconnect: 'lazy', requestTimeoutMs: 8000 });
  try {
    const r = await conn.request<{ type: 'pullResult'; id: number; messages: StoredMessage[] }>({
      type: 'pull', topic: TOPIC, queueId: 0, offset: 0, maxCount: 1024, maxBytes: 4 << 20, waitMs: 0, consistency,
    } as never);
    return r.messages.length;
  } finally {
    await conn.close();
  }
}

/** Every listed replica holds the same queues, with every acknowledged message. */
async function sameQueues(t: Test, cluster: LocalCluster, ids: readonly string[], acked: ReadonlySet<string>): Promise<void> {
  // Read until the replicas agree (a slave may still be applying the last entries), at most a minute.
  const deadline = Date.now() + 60_000;
  let views: StoredMessage[][][] = [];
  for (;;) {
    views = await Promise.all(ids.map((id) => readAll(cluster.node(id).clientAddr, TOPIC, QUEUES)));
    if (new Set(views.map(queuesFingerprint)).size === 1 || Date.now() > deadline) break;
    await sleep(200);
  }
  const stored = new Set(views[0]!.flat().map(bodyText));
  t.same([...acked].filter((b) => !stored.has(b)).slice(0, 5), [], `every acknowledged message is stored (${acked.size} acked, ${stored.size} stored)`);
  for (let i = 1; i < ids.length; i++) t.equal(queuesFingerprint(views[i]!), queuesFingerprint(views[0]!), `${ids[i]} holds the same queues as ${ids[0]} byte for byte`);
}

/** Adds `id` as a new replica (a learner that is promoted once caught up); returns the ms taken. */
async function addReplica(t: Test, cluster: LocalCluster, admin: Admin, id: string): Promise<number> {
  const node = await cluster.addNode(id);
  const started = Date.now();
  const members = await admin.addMember(id, node.peerAddr, node.clientAddr, { timeoutMs: 120_000 });
  const ms = Date.now() - started;
  t.ok(members.members.some((m) => m.nodeId === id && m.kind === 'VOTER'), `${id} is a voter after member add (${ms} ms from member add to promoted)`);
  return ms;
}

async function removeReplica(t: Test, cluster: LocalCluster, admin: Admin, id: string, alive: boolean): Promise<void> {
  const exited = alive ? new Promise<number | null>((r) => cluster.node(id).proc!.once('exit', (code) => r(code))) : null;
  const members = await admin.removeMember(id);
  t.notOk(members.members.some((m) => m.nodeId === id), `${id} is no member after member remove`);
  if (exited !== null) {
    // The guard's timer is cleared: left running, it held the test process up to 20 s at its end.
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([exited, new Promise<string>((r) => (timer = setTimeout(() => r('still running'), 20_000)))]);
    clearTimeout(timer);
    t.equal(code, 0, `${id}, removed while running, stopped by itself with exit code 0`);
    const log = fs.readFileSync(path.join(cluster.node(id).dir, 'logs', 'broker.log'), 'utf8');
    t.match(log, /removed from the group by a membership change/, `${id} says why it stopped`);
  }
}

t.test('replace a dead slave, then a dead master, then grow 3 -> 5 and shrink 5 -> 3, under load', async (t) => {
  const cluster = await LocalCluster.create({ nodes: 3 });
  t.teardown(() => cluster.destroy());
  await cluster.waitForMaster();
  const servers = () => cluster.nodes.filter((n) => cluster.running(n.id)).map((n) => n.clientAddr);
  const producer = new Producer({ servers: cluster.servers, sendTimeoutMs: 15_000 });
  t.teardown(() => producer.close());
  const admin = new Admin({ servers: cluster.servers, timeoutMs: 15_000 });
  t.teardown(() => admin.close());
  await admin.createTopic(TOPIC, QUEUES);
  const fill = await sendLoad(producer, TOPIC, 20_000, 64, { prefix: 'fill' });
  t.same(fill.failures.slice(0, 3), [], '20,000 messages before the changes');

  const load = new ContinuousLoad(producer, TOPIC, 16, { prefix: 'load' });
  t.teardown(() => load.stop());
  await sleep(1000);
  const figures: string[] = [];

  // 1. A slave dies for good; n3 replaces it.
  const first = await cluster.waitForMaster();
  const deadSlave = cluster.nodes.find((n) => n.id !== first.nodeId)!.id;
  await cluster.kill(deadSlave);
  const beforeMs = Date.now();
  const addMs = await addReplica(t, cluster, admin, 'n3');
  const addedAt = Date.now();
  figures.push(`n3 added and caught up in ${addMs} ms; writes ${load.rate(beforeMs - 1000, beforeMs).toFixed(0)} msgs/s before, ${load.rate(beforeMs, addedAt).toFixed(0)} msgs/s during`);
  await removeReplica(t, cluster, admin, deadSlave, false);

  // 2. The master dies for good; n4 replaces it.
  const oldMaster = (await cluster.waitForMaster()).nodeId;
  const { gapMs } = await longestWithoutMaster(cluster, async () => {
    await cluster.kill(oldMaster);
    await cluster.waitForMaster(30_000, oldMaster);
  });
  t.ok(gapMs < 5000, `a new master within a failover after the master died (${gapMs} ms without one)`);
  /** An admin client of the replicas running now (the first ones may all be gone by then). */
  const adminOfRunning = (): Admin => {
    const a = new Admin({ servers: servers(), timeoutMs: 15_000 });
    t.teardown(() => a.close());
    return a;
  };
  const addMs2 = await addReplica(t, cluster, adminOfRunning(), 'n4');
  figures.push(`n4 (replacing the dead master ${oldMaster}) added and caught up in ${addMs2} ms`);
  const admin2 = adminOfRunning();
  await removeReplica(t, cluster, admin2, oldMaster, false);

  // 3. Grow to 5, then shrink to 3 removing the master and a slave (both running).
  for (const id of ['n5', 'n6']) await addReplica(t, cluster, admin2, id);
  let members = await admin2.members();
  t.equal(members.members.filter((m) => m.kind === 'VOTER').length, 5, 'five voters');
  const master = (await cluster.waitForMaster()).nodeId;
  const aSlave = members.members.find((m) => m.kind === 'VOTER' && m.nodeId !== master)!.nodeId;
  await removeReplica(t, cluster, admin2, aSlave, true);
  const shrink = await longestWithoutMaster(cluster, () => removeReplica(t, cluster, adminOfRunning(), master, true));
  t.ok(shrink.gapMs < 5000, `the removed master stepped down and another took over within a failover (${shrink.gapMs} ms without one)`);

  await sleep(500);
  await load.stop();
  figures.push(`under load: ${load.acked.size} acknowledged, ${load.failures.length} sends failed (retried by the client)`);
  for (const f of figures) t.comment(f);
  const admin3 = adminOfRunning();
  members = await admin3.members();
  const voters = members.members.filter((m) => m.kind === 'VOTER').map((m) => m.nodeId);
  t.equal(voters.length, 3, `three voters at the end (${voters.join(', ')})`);
  for (const id of voters) t.ok(cluster.running(id), `${id} runs`);
  await sameQueues(t, cluster, voters, new Set([...fill.acked, ...load.acked]));
});

t.test('a master cut off from its group answers committed reads but never a linearizable one', async (t) => {
  const cluster = await LocalCluster.create({ nodes: 3 });
  t.teardown(() => cluster.destroy());
  const master = await cluster.waitForMaster();
  const producer = new Producer({ servers: cluster.servers, sendTimeoutMs: 10_000 });
  t.teardown(() => producer.close());
  const sent = await sendLoad(producer, TOPIC, 100, 8, { prefix: 'r', queueId: 0 });
  t.same(sent.failures, [], '100 messages acknowledged');
  t.equal(await storedCount(master.addr, 'linearizable'), 100, 'a linearizable read of the healthy master sees every acknowledged message');
  // Cut it off: its two peers stop (SIGSTOP), it stays reachable for clients.
  const others = cluster.nodes.filter((n) => n.id !== master.nodeId).map((n) => n.id);
  for (const id of others) cluster.signal(id, 'SIGSTOP');
  t.teardown(() => {
    for (const id of others) cluster.signal(id, 'SIGCONT');
  });
  const refused = await storedCount(master.addr, 'linearizable').then(
    (v) => `answered ${v}`,
    (err: { code?: string }) => err.code ?? String(err),
  );
  t.ok(['TIMEOUT', 'NOT_MASTER', 'NO_QUORUM'].includes(refused), `the cut-off master refuses a linearizable read (${refused})`);
  t.equal(await storedCount(master.addr, 'committed'), 100, 'a committed read is answered from what it applied (documented as possibly stale)');
});

t.test('a replica that replaces a removed one under the same name replays the removal and stays a voter', async (t) => {
  const cluster = await LocalCluster.create({ nodes: 3 });
  t.teardown(() => cluster.destroy());
  const master = await cluster.waitForMaster();
  const producer = new Producer({ servers: cluster.servers, sendTimeoutMs: 10_000 });
  t.teardown(() => producer.close());
  const admin = new Admin({ servers: cluster.servers, timeoutMs: 15_000 });
  t.teardown(() => admin.close());
  await sendLoad(producer, TOPIC, 1000, 16, { prefix: 'a' });
  const victim = cluster.nodes.find((n) => n.id !== master.nodeId)!;
  await cluster.kill(victim.id);
  await admin.removeMember(victim.id);
  // A new machine under the old name: empty store, joining.
  cluster.wipe(victim.id);
  fs.writeFileSync(victim.confPath, fs.readFileSync(victim.confPath, 'utf8').replace(/^dLegerJoin=.*$/m, 'dLegerJoin=true'));
  cluster.start(victim.id);
  await admin.addMember(victim.id, victim.peerAddr, victim.clientAddr, { timeoutMs: 60_000 });
  await sendLoad(producer, TOPIC, 200, 16, { prefix: 'b' });
  await sleep(1000);
  t.ok(cluster.running(victim.id), `${victim.id} still runs after replaying its own earlier removal`);
  const log = fs.readFileSync(path.join(victim.dir, 'logs', 'broker.log'), 'utf8');
  t.notMatch(log, /removed from the group by a membership change/, 'it did not take the old removal for its own');
  // It votes: with the master gone, the other two elect one at once.
  await cluster.kill(master.nodeId);
  const started = Date.now();
  const next = await cluster.waitForMaster(30_000, master.nodeId);
  t.ok(Date.now() - started < 5000, `a new master (${next.nodeId}) ${Date.now() - started} ms after the master died: the rejoined replica votes`);
});
