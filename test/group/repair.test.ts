// A replica whose store is refused as corrupt (a byte flipped inside its fsynced range) names the
// repair; `raftmq node --repair` keeps the valid prefix and the master re-replicates the rest.
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { Producer } from '../../src/client/index.ts';
import { LocalCluster } from '../../src/cli/index.ts';
import { bodyText, readAll, sendLoad, sleep, waitApplied } from '../helpers/group-io.ts';
import { flipByte } from '../helpers/files.ts';


function exitOf(proc: import('node:child_process').ChildProcess): Promise<{ code: number | null; stderr: string }> {
  let stderr = '';
  proc.stderr?.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  return new Promise((resolve) => proc.once('exit', (code) => resolve({ code, stderr })));
}

t.test('a corrupt store is refused with the way forward, and --repair brings the replica back with every message', async (t) => {
  const cluster = await LocalCluster.create({ nodes: 3 });
  t.teardown(() => cluster.destroy());
  const master = await cluster.waitForMaster();
  const producer = new Producer({ servers: cluster.servers, sendTimeoutMs: 10_000 });
  t.teardown(() => producer.close());
  const first = await sendLoad(producer, 'fix', 3000, 32, { prefix: 'f' });
  t.same(first.failures, [], 'sent');
  const st = (await cluster.statuses()).find((s) => s?.nodeId === master.nodeId)!;
  await waitApplied(cluster, st.commitIndex);
  const slave = cluster.nodes.find((n) => n.id !== master.nodeId)!;
  await cluster.kill(slave.id);
  const dataDir = path.join(slave.dir, 'commitlog', 'data');
  const [segment] = fs.readdirSync(dataDir).sort();
  flipByte(path.join(dataDir, segment!), 1000); // early in the log: long fdatasync'd
  const refused = await exitOf(cluster.start(slave.id, 'pipe'));
  const lines = refused.stderr.trim().split('\n');
  t.not(refused.code, 0, `the replica refuses to start (exit ${refused.code})`);
  t.match(lines[lines.length - 1], /corrupt store/, 'the last line says why');
  t.match(lines[lines.length - 1], /--repair/, 'and names the repair');
  const more = await sendLoad(producer, 'fix', 1000, 16, { prefix: 'g' });
  t.same(more.failures, [], 'the group takes writes meanwhile');
  const repaired = cluster.start(slave.id, 'pipe', ['--repair']);
  let stderr = '';
  repaired.stderr?.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  const now = (await cluster.statuses()).find((s) => s?.nodeId === master.nodeId)!;
  await waitApplied(cluster, now.commitIndex, 30_000);
  t.ok(cluster.running(slave.id), 'the repaired replica runs', { stderr: stderr.slice(-3000) });
  t.match(stderr, /repaired the store: kept the log up to index \d+/, 'and said what it kept');
  const master2 = await cluster.waitForMaster();
  const view = (await readAll(slave.clientAddr, 'fix', 4)).flat().map(bodyText);
  const reference = (await readAll(master2.addr, 'fix', 4)).flat().map(bodyText);
  t.same(view, reference, 'it holds exactly what the master holds');
  const stored = new Set(view);
  t.same([...first.acked, ...more.acked].filter((b) => !stored.has(b)), [], 'every acknowledged message');
  let recovering = true;
  for (let i = 0; i < 100 && recovering; i++) {
    recovering = (await cluster.statuses()).find((s) => s?.nodeId === slave.id)?.recovering ?? true;
    if (recovering) await sleep(50);
  }
  t.notOk(recovering, 'and it votes again (no longer recovering)');
});
