// `raftmq cluster --groups 2 --nodes 1` end to end, and the mqadmin commands against it: the
// NameServer lists both groups, updateTopic creates a topic on both, topicRoute and topicStatus
// show both groups' queues, send and consume with -n use both, deleteTopic removes it from both. The commands run in this process
// (their run()), the cluster as real processes stopped by PID.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { COMMANDS, LOADER_FLAGS } from '../../src/cli/index.ts';
import { Producer, RaftmqError, type ClusterInfo, type TopicRouteData } from '../../src/client/index.ts';
import type { GroupTopicOffset, NodeStatus } from '../../src/client/index.ts';
import { freeLocalPorts } from '../../src/net/index.ts';
import { captured } from '../helpers/console.ts';
import { freeBasePort } from '../helpers/ports.ts';
import { alive } from '../helpers/processes.ts';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
/** Liveness guards, many times what each takes (a group elects in well under a second). */
const START_TIMEOUT_MS = 30_000;
const ROUTE_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 20_000;

/** Runs `raftmq <argv>` in this process; its exit code and what it printed. */
async function raftmq(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const { value, out, err } = await captured(async () => {
    try {
      return { code: await (await COMMANDS[argv[0]!]!.load()).run(argv.slice(1)), thrown: null };
    } catch (e) {
      // main.ts prints a thrown error as one line and exits 1 (2 for a UsageError).
      return { code: e instanceof RaftmqError ? 1 : 2, thrown: `${(e as RaftmqError).code ?? ''}: ${(e as Error).message}` };
    }
  });
  return { code: value.code, out, err: value.thrown ?? err };
}

/** Asks `probe` until it returns a value (not undefined), or fails after `timeoutMs`. */
async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = ROUTE_TIMEOUT_MS): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

t.test('raftmq cluster --groups 2: both groups register, and a topic is created, routed, counted and deleted on both', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'raftmq-groups-'));
  // Ports for 2 groups of 1 (client, peer, metrics), groups 10 apart.
  const basePort = await freeBasePort([0, 10].flatMap((g) => [0, 10_000, 20_000].map((o) => g + o)), 10);
  let [namesrvPort] = await freeLocalPorts(1);
  while (namesrvPort! >= basePort && namesrvPort! < basePort + 20) [namesrvPort] = await freeLocalPorts(1);
  const ns = `127.0.0.1:${namesrvPort}`;
  const launcher = spawn(process.execPath, [...LOADER_FLAGS, MAIN, 'cluster', '--groups', '2', '--nodes', '1', '--dir', dir, '--base-port', String(basePort), '--namesrv-port', String(namesrvPort)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const pids: number[] = [];
  const output: string[] = [];
  t.teardown(async () => {
    if (launcher.exitCode === null && launcher.signalCode === null) process.kill(launcher.pid!, 'SIGKILL');
    for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const masters = new Set<string>();
  const started = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), START_TIMEOUT_MS);
    readline.createInterface({ input: launcher.stdout! }).on('line', (line) => {
      output.push(line);
      const pid = / pid=(\d+)/.exec(line);
      if (pid) pids.push(Number(pid[1]));
      const master = /^(broker-[ab]) master: n0 at /.exec(line);
      if (master) masters.add(master[1]!);
      if (masters.size === 2) {
        clearTimeout(timer);
        resolve(true);
      }
    });
    launcher.once('exit', () => resolve(false));
  });
  t.ok(started, `both groups elected a master:\n${output.join('\n')}`);
  if (!started) return;
  t.match(output[0], new RegExp(`^namesrv: ${ns} pid=\\d+ log=`), 'the NameServer comes first, with its address');
  t.ok(output.some((l) => l.startsWith(`broker-a n0 client=127.0.0.1:${basePort} `)) && output.some((l) => l.startsWith(`broker-b n0 client=127.0.0.1:${basePort + 10} `)), 'each group on its own ports');
  t.match(fs.readFileSync(path.join(dir, 'broker-b', 'n0', 'broker.conf'), 'utf8'), new RegExp(`^namesrvAddr=${ns}$`, 'm'), 'every broker.conf names the NameServer');

  const info = await eventually('both groups in clusterList', async () => {
    const r = await raftmq('clusterList', '-n', ns, '--json');
    const parsed = r.code === 0 ? (JSON.parse(r.out) as ClusterInfo) : null;
    return parsed !== null && Object.keys(parsed.brokerAddrTable).length === 2 ? parsed : undefined;
  });
  t.strictSame([...info.clusterAddrTable.DefaultCluster!].sort(), ['broker-a', 'broker-b'], 'clusterList: both groups in DefaultCluster');
  t.equal(info.brokerAddrTable['broker-b']!.brokerAddrs['0'], `127.0.0.1:${basePort + 10}`, "broker-b's master is its n0");
  const table = await raftmq('clusterList', '-n', ns);
  t.match(table.out, /^DefaultCluster +broker-b +0 +n0 +127\.0\.0\.1:\d+ +MASTER/m, 'and in the plain table');

  const created = await raftmq('updateTopic', '-n', ns, '-t', 'orders', '-w', '2', '--json');
  t.equal(created.code, 0, created.err);
  t.strictSame(JSON.parse(created.out), [
    { brokerName: 'broker-a', result: 'done', error: null },
    { brokerName: 'broker-b', result: 'done', error: null },
  ]);
  const route = await eventually('orders routed to both groups', async () => {
    const r = await raftmq('topicRoute', '-n', ns, '-t', 'orders', '--json');
    const parsed = r.code === 0 ? (JSON.parse(r.out) as TopicRouteData) : null;
    return parsed !== null && parsed.queueDatas.length === 2 ? parsed : undefined;
  });
  t.strictSame(route.queueDatas.map((q) => [q.brokerName, q.writeQueueNums, q.readQueueNums]), [['broker-a', 2, 2], ['broker-b', 2, 2]], 'topicRoute: 2 queues on each group');
  t.match((await raftmq('topicList', '-n', ns, '--json')).out, /"orders"/, 'topicList has it');

  const producer = new Producer({ namesrv: [ns] });
  const sent = 8;
  try {
    for (let i = 0; i < sent; i++) await producer.send('orders', { body: Buffer.from(`m${i}`) });
  } finally {
    await producer.close();
  }
  const status = await raftmq('topicStatus', '-n', ns, '-t', 'orders', '--json');
  t.equal(status.code, 0, status.err);
  const queues = JSON.parse(status.out) as GroupTopicOffset[];
  t.strictSame(queues.map((q) => [q.brokerName, q.queueId]), [['broker-a', 0], ['broker-a', 1], ['broker-b', 0], ['broker-b', 1]], 'topicStatus: every queue of both groups');
  t.equal(queues.reduce((n, q) => n + q.maxOffset - q.minOffset, 0), sent, 'their offsets count every message sent');
  t.ok(queues.every((q) => q.maxOffset === 0 || (q.lastUpdateTimestamp ?? 0) > Date.now() - 60_000), 'a queue that took messages says when');
  const groupB = await raftmq('topicStatus', '-n', ns, '-t', 'orders', '--broker-name', 'broker-b');
  t.match(groupB.out.split('\n').slice(1).join('\n'), /^(broker-b .*\n?){2}$/, '--broker-name keeps one group');

  const consumed = await raftmq('consume', '-n', ns, '--topic', 'orders', '--from-beginning', '--count', String(sent), '--idle-timeout-ms', '5000', '--json');
  t.equal(consumed.code, 0, consumed.err);
  const read = consumed.out.split('\n').map((l) => JSON.parse(l) as { msgId: string; body: string });
  t.strictSame(read.map((m) => m.body).sort(), Array.from({ length: sent }, (_, i) => `m${i}`).sort(), 'consume -n reads every message, from both groups');

  const statuses = JSON.parse((await raftmq('status', '-n', ns, '--json')).out) as NodeStatus[];
  t.strictSame(statuses.map((s) => s.brokerName).sort(), ['broker-a', 'broker-b'], 'status -n: every group\'s replicas');
  const one = await raftmq('brokerStatus', '-b', `127.0.0.1:${basePort}`);
  t.match(one.out, /^brokerName +: broker-a$/m, 'brokerStatus -b: that replica');

  const deleted = await raftmq('deleteTopic', '-n', ns, '-t', 'orders', '--json');
  t.equal(deleted.code, 0, deleted.err);
  t.strictSame((JSON.parse(deleted.out) as { result: string }[]).map((o) => o.result), ['done', 'done'], 'deleteTopic: removed from both groups');
  const gone = await eventually('orders gone from the NameServer', async () => {
    const r = await raftmq('topicRoute', '-n', ns, '-t', 'orders');
    return r.code === 1 ? r : undefined;
  });
  t.match(gone.err, /^TOPIC_NOT_FOUND: /, 'topicRoute: no such topic any more');
  const again = await raftmq('deleteTopic', '-n', ns, '-t', 'orders');
  t.match(again.err, /^TOPIC_NOT_FOUND: no broker group has topic orders/, 'deleting it again: no group has it');

  const exited = new Promise<number | null>((resolve) => launcher.once('exit', (code) => resolve(code)));
  process.kill(launcher.pid!, 'SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([exited, new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), STOP_TIMEOUT_MS)))]);
  clearTimeout(timer);
  t.equal(code, 0, 'the launcher stops everything and exits 0');
  t.strictSame(pids.filter(alive), [], 'the NameServer and every replica are gone');
});
