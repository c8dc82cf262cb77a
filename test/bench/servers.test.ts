// The servers of a bench run with --groups 2 (one replica per group to stay fast): the topic is
// routed to both groups before the load starts, a producer through the NameServer reaches both,
// and killNow (what an interrupted bench calls) leaves no process or data behind.
import fs from 'node:fs';
import t from 'tap';
import { ClusterAdmin, Producer } from '../../src/client/index.ts';
import { BenchServers } from '../../scripts/bench/servers.ts';
import { alive } from '../helpers/processes.ts';

t.test('two groups behind a NameServer: the topic on both, every replica listed, killNow stops all', async (t) => {
  let early: BenchServers | null = null;
  const servers = await BenchServers.start({ groups: 2, nodes: 1, metrics: false, extra: {} }, 'bench', 3, (s) => (early = s));
  t.teardown(() => servers.destroy());
  t.ok(early !== null, 'the servers were handed out before the masters were elected');
  t.strictSame(servers.replicas.map((r) => [r.id, r.master]), [['broker-a/n0', true], ['broker-b/n0', true]]);
  t.ok('namesrv' in servers.target, 'clients go through the NameServer');
  t.equal(servers.namesrvPids.length, 1);
  t.match(servers.describe(), /^2 groups x 1 nodes up \(masters broker-a\/n0, broker-b\/n0, NameServer 127\.0\.0\.1:\d+\), pids \d+ \d+$/);
  t.equal(servers.deadReplica(), undefined);

  const namesrv = 'namesrv' in servers.target ? [...servers.target.namesrv] : [];
  const admin = new ClusterAdmin({ namesrv });
  t.teardown(() => admin.close());
  const route = await admin.topicRoute('bench');
  t.strictSame(route.queueDatas.map((q) => [q.brokerName, q.writeQueueNums]).sort(), [['broker-a', 3], ['broker-b', 3]], '--queues queues on each group');

  // Round robin over the 6 queues: 6 sends store 3 messages in each group.
  const producer = new Producer({ namesrv });
  const entriesBefore = await servers.committedEntries();
  for (let i = 0; i < 6; i++) await producer.send('bench', { body: Buffer.from('x') });
  await producer.close();
  const status = await admin.topicStatus('bench');
  const stored = (g: string): number => status.queues.filter((q) => q.brokerName === g).reduce((n, q) => n + q.maxOffset, 0);
  t.strictSame([stored('broker-a'), stored('broker-b')], [3, 3], 'sends spread over both groups');
  t.ok((await servers.committedEntries()) - entriesBefore >= 6, 'each send awaited alone is an entry of its group, counted over both groups');

  const pids = [...servers.replicas.map((r) => r.pid), ...servers.namesrvPids];
  servers.killNow();
  const deadline = Date.now() + 10_000; // liveness guard: SIGKILL takes milliseconds
  while (pids.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  t.strictSame(pids.filter(alive), [], 'every replica and the NameServer are gone');
  t.notOk(servers.roots.some((d) => fs.existsSync(d)), 'the data directories are removed');
});

t.test('one group: the replicas\' addresses, no NameServer', async (t) => {
  const servers = await BenchServers.start({ groups: 1, nodes: 1, metrics: false, extra: {} }, 'bench', 2, () => {});
  t.teardown(() => servers.destroy());
  t.strictSame(servers.replicas.map((r) => [r.id, r.master]), [['n0', true]]);
  t.ok('servers' in servers.target);
  t.strictSame(servers.namesrvPids, []);
  t.match(servers.describe(), /^1 nodes up \(master n0\), pids \d+$/);
});
