// Operator mistakes in broker.conf must not stop the service, and must be said out loud.
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { Admin, Producer } from '../../src/client/index.ts';
import { freeLocalPorts } from '../../src/net/index.ts';
import { LocalCluster } from '../../src/cli/index.ts';
import { sendLoad, sleep } from '../helpers/group-io.ts';

/** Rewrites one key of a node's broker.conf. */
function editConf(cluster: LocalCluster, id: string, key: string, edit: (value: string) => string): void {
  const conf = cluster.node(id).confPath;
  const lines = fs.readFileSync(conf, 'utf8').split('\n');
  const i = lines.findIndex((l) => l.startsWith(`${key}=`));
  if (i < 0) throw new Error(`no ${key} in ${conf}`);
  lines[i] = `${key}=${edit(lines[i]!.slice(key.length + 1))}`;
  fs.writeFileSync(conf, lines.join('\n'));
}

function logOf(cluster: LocalCluster, id: string): string {
  const file = path.join(cluster.node(id).dir, 'logs', 'broker.log');
  return fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
}

async function until(cond: () => boolean | Promise<boolean>, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return true;
    await sleep(50);
  }
  return false;
}

t.test('a mistyped peer port on one replica: the other two still elect when the master dies, and both sides say the lists differ', async (t) => {
  const cluster = await LocalCluster.create({ nodes: 3 });
  t.teardown(() => cluster.destroy());
  await cluster.waitForMaster();
  // n2 gets n1's Raft port wrong.
  const [unused] = await freeLocalPorts(1);
  await cluster.kill('n2');
  editConf(cluster, 'n2', 'dLegerPeers', (v) => v.replace(/(n1-127\.0\.0\.1:)\d+/, `$1${unused}`));
  cluster.start('n2');
  const admin = new Admin({ servers: cluster.servers });
  t.teardown(() => admin.close());
  // n0 is the master to kill (so the survivors are the mistyped n2 and n1).
  t.ok(await until(async () => {
    const m = await cluster.waitForMaster(5000).catch(() => null);
    if (m?.nodeId === 'n0') return true;
    if (m) await admin.transferLeader('n0').catch(() => undefined);
    return false;
  }, 20_000), 'n0 is the master');
  const producer = new Producer({ servers: cluster.servers, sendTimeoutMs: 10_000 });
  t.teardown(() => producer.close());
  t.same((await sendLoad(producer, 'typo', 200, 8, { prefix: 'a' })).failures, [], 'writes work');
  await cluster.kill('n0');
  const started = Date.now();
  const next = await cluster.waitForMaster(15_000, 'n0').catch(() => null);
  t.ok(next !== null, `n1 and n2 elect a master (${next?.nodeId ?? 'none'} after ${Date.now() - started} ms)`);
  t.same((await sendLoad(producer, 'typo', 200, 8, { prefix: 'b' })).failures, [], 'and writes go on');
  // n2's hello reaches n0 only (its address for n1 is wrong); n1's hello reaches n2.
  const linesOf = (id: string) => logOf(cluster, id).split('\n');
  t.ok(await until(() => linesOf('n2').some((l) => /MISCONFIGURED/.test(l) && /dLegerPeers differ/.test(l)), 10_000), 'n2, seeing n1\'s hello, says loudly that the lists differ');
  t.ok(await until(() => linesOf('n1').some((l) => /reports a problem/.test(l) && /dLegerPeers differ/.test(l)), 10_000), 'and n1, told by n2, says it too');
  t.ok(
    await until(() => linesOf('n2').some((l) => /stays unreachable/.test(l) && new RegExp(`n1 at 127\\.0\\.0\\.1:${unused}`).test(l)), 15_000),
    'n2 names the peer it cannot reach, with the address it uses',
    { lines: linesOf('n2').filter((l) => /unreachable/.test(l)).slice(0, 3) },
  );
});

t.test('a replica of another dLegerGroup is refused with a reason on both sides; the group keeps its master and data', async (t) => {
  const cluster = await LocalCluster.create({ nodes: 3 });
  t.teardown(() => cluster.destroy());
  const master = await cluster.waitForMaster();
  const victim = cluster.nodes.find((n) => n.id !== master.nodeId)!.id;
  await cluster.kill(victim);
  editConf(cluster, victim, 'dLegerGroup', () => 'some-other-group');
  cluster.start(victim);
  const others = cluster.nodes.map((n) => n.id).filter((id) => id !== victim);
  t.ok(await until(() => others.some((id) => /refused a peer connection/.test(logOf(cluster, id))), 15_000), 'the group logs the refused hello');
  t.ok(await until(() => /refused your hello/.test(logOf(cluster, victim)) && /dLegerGroup/.test(logOf(cluster, victim)), 15_000), 'the refused replica logs why, naming dLegerGroup');
  const producer = new Producer({ servers: cluster.servers.filter((_, i) => cluster.nodes[i]!.id !== victim), sendTimeoutMs: 10_000 });
  t.teardown(() => producer.close());
  t.same((await sendLoad(producer, 'group', 200, 8, { prefix: 'g' })).failures, [], 'the group keeps taking writes');
  t.equal((await cluster.waitForMaster(20_000, victim)).nodeId, master.nodeId, 'with the same master');
});
