// The mqadmin-named commands and the target flags without a process: every command's --help,
// --servers / --namesrv / NAMESRV_ADDR resolution, the tables and the --json shapes of what the
// cluster-wide commands print, and `raftmq cluster`'s port and name rules.
import t from 'tap';
import {
  brokerNameOf,
  brokerStatusLines,
  checkNamesrvPort,
  clusterInfoOf,
  clusterListLines,
  COMMANDS,
  outcomeJson,
  outcomeLines,
  outcomeStatus,
  parseBrokerNames,
  permText,
  pickGroup,
  targetOf,
  topicRouteLines,
  topicStatusLines,
  UsageError,
} from '../../src/cli/index.ts';
import { RaftmqError, type BrokerData, type BrokerInfo, type ClusterInfo, type GroupOutcome, type TopicRouteData } from '../../src/client/index.ts';
import { captured } from '../helpers/console.ts';

const group = (brokerName: string, cluster = 'DefaultCluster', master = true): BrokerData => ({
  cluster,
  brokerName,
  brokerAddrs: master ? { '0': `127.0.0.1:${brokerName === 'broker-a' ? 10911 : 10921}`, '1': `127.0.0.1:${brokerName === 'broker-a' ? 10912 : 10922}` } : {},
  replicas: [
    { nodeId: 'n1', brokerId: 1, addr: `127.0.0.1:${brokerName === 'broker-a' ? 10912 : 10922}`, role: 'SLAVE', term: 3, silentMs: 1200 },
    ...(master ? [{ nodeId: 'n0', brokerId: 0, addr: `127.0.0.1:${brokerName === 'broker-a' ? 10911 : 10921}`, role: 'MASTER' as const, term: 3, silentMs: 200 }] : []),
  ],
});

const INFO: ClusterInfo = {
  brokerAddrTable: { 'broker-a': group('broker-a'), 'broker-b': group('broker-b'), 'broker-x': group('broker-x', 'Other', false) },
  clusterAddrTable: { DefaultCluster: ['broker-b', 'broker-a'], Other: ['broker-x'] },
};

t.test('every command answers --help with its usage and exit code 0', async (t) => {
  for (const [name, cmd] of Object.entries(COMMANDS)) {
    const { value, out } = await captured(async () => (await cmd.load()).run(['--help']));
    t.equal(value, 0, `${name} --help exits 0`);
    t.match(out, new RegExp(`usage: raftmq ${name}\\b`), `${name} --help shows its usage`);
  }
});

t.test("the mqadmin commands take mqadmin's short flags and --json, and say so in --help", async (t) => {
  const expected: Record<string, string[]> = {
    clusterList: ['-n, --namesrv', '-c, --cluster', '--json'],
    topicList: ['-n, --namesrv', '--json'],
    topicRoute: ['-n, --namesrv', '-t, --topic', '--json'],
    topicStatus: ['-n, --namesrv', '--servers', '--broker-name', '-t, --topic', '--json'],
    updateTopic: ['-n, --namesrv', '--servers', '-t, --topic', '-c, --cluster', '--broker-names', '-r, -w, --queues', '--json'],
    deleteTopic: ['-n, --namesrv', '--servers', '-t, --topic', '-c, --cluster', '--json'],
    brokerStatus: ['-b, --broker', '-n, --namesrv', '-c, --cluster', '--json'],
  };
  for (const [name, flags] of Object.entries(expected)) {
    const { out } = await captured(async () => (await COMMANDS[name]!.load()).run(['-h']));
    for (const f of flags) t.ok(out.includes(f), `${name} --help lists ${f}`);
  }
  for (const name of ['status', 'member', 'offset', 'transfer-leader', 'message', 'dashboard', 'send', 'consume', 'topic']) {
    const { out } = await captured(async () => (await COMMANDS[name]!.load()).run(['--help']));
    t.ok(out.includes('-n, --namesrv') && out.includes('--broker-name') && out.includes('--servers'), `${name} takes --servers, --namesrv and --broker-name`);
  }
});

t.test('bad command lines of the mqadmin commands are one UsageError each, before any connection', async (t) => {
  const bad: [string, string[], RegExp][] = [
    ['topicRoute', ['-n', '127.0.0.1:1'], /^--topic is required/],
    ['topicRoute', ['-n', 'nohost', '-t', 'x'], /^--namesrv: bad address "nohost"/],
    ['topicRoute', ['--servers', '127.0.0.1:1', '-t', 'x'], /^unknown option --servers/],
    ['updateTopic', ['-n', '127.0.0.1:1', '-t', 'x', '-r', '8', '-w', '4'], /^--queues is given twice, as 8 and 4/],
    ['updateTopic', ['--servers', '127.0.0.1:1', '-t', 'x', '-c', 'DefaultCluster'], /^--cluster and --broker-names pick groups the NameServer knows/],
    ['updateTopic', ['-n', '127.0.0.1:1', '-t', 'x', '--broker-names', 'a,,b'], /^--broker-names: "a,,b" has an empty name/],
    ['deleteTopic', ['--servers', '127.0.0.1:1', '-t', 'x', '-c', 'C'], /^--cluster picks groups the NameServer knows/],
    ['brokerStatus', ['-b', '127.0.0.1:1,127.0.0.1:2'], /^-b takes one host:port/],
    ['brokerStatus', ['-b', '127.0.0.1:1', '-n', '127.0.0.1:2'], /^-b names one replica/],
    ['clusterList', ['-n', '127.0.0.1:1', 'extra'], /^unexpected argument "extra"/],
  ];
  for (const [name, argv, message] of bad) {
    await t.rejects((async () => (await COMMANDS[name]!.load()).run(argv))(), { name: 'UsageError', message }, `${name} ${argv.join(' ')}`);
  }
});

t.test('a command finds the brokers by --servers, --namesrv or NAMESRV_ADDR, in that order', async (t) => {
  const env = { NAMESRV_ADDR: '10.0.0.1:9876;10.0.0.2:9876' };
  t.strictSame(targetOf({ servers: '127.0.0.1:10911,127.0.0.1:10912' }, env), { kind: 'servers', servers: ['127.0.0.1:10911', '127.0.0.1:10912'] }, '--servers beats the environment');
  t.strictSame(targetOf({ namesrv: '127.0.0.1:9876' }, env), { kind: 'namesrv', namesrv: ['127.0.0.1:9876'], brokerName: null }, '--namesrv beats it too');
  t.strictSame(targetOf({ 'broker-name': 'broker-b' }, env), { kind: 'namesrv', namesrv: ['10.0.0.1:9876', '10.0.0.2:9876'], brokerName: 'broker-b' }, 'else NAMESRV_ADDR');
  t.throws(() => targetOf({}, {}), { name: 'UsageError', message: /^give --servers H:P\[,H:P\.\.\.\] or --namesrv H:P\[;H:P\.\.\.\] \(or set NAMESRV_ADDR\)$/ });
  t.throws(() => targetOf({ servers: 'a:1', namesrv: 'b:2' }, {}), { message: 'give --servers or --namesrv, not both' });
  t.throws(() => targetOf({ servers: 'a:1', 'broker-name': 'broker-a' }, {}), { message: /--broker-name picks a group the NameServer knows/ });
  t.throws(() => targetOf({}, { NAMESRV_ADDR: 'nohost' }), { name: 'UsageError', message: /^NAMESRV_ADDR: bad address "nohost"/ });
});

t.test('a one-group command picks its group by --broker-name, or the only one', async (t) => {
  const a = group('broker-a');
  const b = group('broker-b');
  t.equal(pickGroup([a], null), a);
  t.equal(pickGroup([a, b], 'broker-b'), b);
  t.throws(() => pickGroup([a, b], null), { name: 'UsageError', message: 'the cluster has several broker groups (broker-a, broker-b): pick one with --broker-name' });
  t.throws(() => pickGroup([a, b], 'broker-c'), { name: 'UsageError', message: '--broker-name: the NameServer knows no group broker-c (known: broker-a, broker-b)' });
  t.throws(() => pickGroup([], null), /knows no broker group: are the brokers started with namesrvAddr/);
});

t.test('clusterList: one row per replica by cluster, group and brokerId; --json is the cluster info', async (t) => {
  const lines = clusterListLines(INFO);
  t.match(lines[0], /^#Cluster Name +#Broker Name +#BID +#Node +#Addr +#Role +#Term +#Last Registered$/);
  t.strictSame(
    lines.slice(1).map((l) => l.split(/\s{2,}/).slice(0, 6)),
    [
      ['DefaultCluster', 'broker-a', '0', 'n0', '127.0.0.1:10911', 'MASTER'],
      ['DefaultCluster', 'broker-a', '1', 'n1', '127.0.0.1:10912', 'SLAVE'],
      ['DefaultCluster', 'broker-b', '0', 'n0', '127.0.0.1:10921', 'MASTER'],
      ['DefaultCluster', 'broker-b', '1', 'n1', '127.0.0.1:10922', 'SLAVE'],
      ['Other', 'broker-x', '1', 'n1', '127.0.0.1:10922', 'SLAVE'],
    ],
  );
  t.match(lines[1], /0\.2 s ago$/);
  t.equal(clusterListLines(INFO, 'Other').length, 2, '-c keeps one cluster');
  t.strictSame(Object.keys(clusterInfoOf(INFO, 'Other').brokerAddrTable), ['broker-x']);
  t.strictSame(clusterInfoOf(INFO, 'Other').clusterAddrTable, { Other: ['broker-x'] });
  t.equal(clusterInfoOf(INFO), INFO);
});

t.test('topicRoute: one row per group holding the topic, with its master and replicas', async (t) => {
  const route: TopicRouteData = {
    queueDatas: [
      { brokerName: 'broker-b', readQueueNums: 4, writeQueueNums: 4, perm: 6, topicSysFlag: 0 },
      { brokerName: 'broker-a', readQueueNums: 8, writeQueueNums: 8, perm: 4, topicSysFlag: 0 },
    ],
    brokerDatas: [group('broker-a'), group('broker-b', 'DefaultCluster', false)],
  };
  const rows = topicRouteLines(route).map((l) => l.split(/\s{2,}/));
  t.strictSame(rows, [
    ['#Broker Name', '#Read Queues', '#Write Queues', '#Perm', '#Master', '#Replicas'],
    ['broker-a', '8', '8', 'R-', '127.0.0.1:10911', 'n0@127.0.0.1:10911,n1@127.0.0.1:10912'],
    ['broker-b', '4', '4', 'RW', 'none', 'n1@127.0.0.1:10922'],
  ]);
  t.equal(permText(0), '--');
});

t.test('topicStatus: queues by group and id, "-" for no last update', async (t) => {
  const rows = topicStatusLines([
    { brokerName: 'broker-b', queueId: 0, minOffset: 0, maxOffset: 3, lastUpdateTimestamp: Date.UTC(2026, 11, 7, 20, 0, 0) },
    { brokerName: 'broker-a', queueId: 1, minOffset: 2, maxOffset: 2, lastUpdateTimestamp: 0 },
    { brokerName: 'broker-a', queueId: 0, minOffset: 0, maxOffset: 5, lastUpdateTimestamp: null },
  ]).map((l) => l.split(/\s{2,}/));
  t.strictSame(rows, [
    ['#Broker Name', '#QID', '#Min Offset', '#Max Offset', '#Last Updated'],
    ['broker-a', '0', '0', '5', '-'],
    ['broker-a', '1', '2', '2', '-'],
    ['broker-b', '0', '0', '3', '2026-12-07T20:00:00.000Z'],
  ]);
});

t.test("updateTopic and deleteTopic print one line (or JSON object) per group; a failed group's exit status is 1", async (t) => {
  const outcomes: GroupOutcome[] = [
    { brokerName: 'broker-a', result: 'done', error: null },
    { brokerName: 'broker-b', result: 'absent', error: new RaftmqError('TOPIC_NOT_FOUND', 'no topic x') },
    { brokerName: 'broker-c', result: 'failed', error: new RaftmqError('NO_QUORUM', 'no quorum\nfor now') },
  ];
  t.strictSame(outcomes.map(outcomeJson), [
    { brokerName: 'broker-a', result: 'done', error: null },
    { brokerName: 'broker-b', result: 'absent', error: { code: 'TOPIC_NOT_FOUND', message: 'no topic x' } },
    { brokerName: 'broker-c', result: 'failed', error: { code: 'NO_QUORUM', message: 'no quorum\nfor now' } },
  ]);
  t.strictSame(outcomeLines(outcomes, 'topic x deleted', 'no topic x'), ['broker-a: topic x deleted', 'broker-b: no topic x', 'broker-c: failed: NO_QUORUM: no quorum for now']);
  t.equal(outcomeStatus(outcomes), 1);
  t.equal(outcomeStatus(outcomes.slice(0, 2)), 0, 'a group without the topic is no failure');
});

t.test('brokerStatus: "key: value" lines of one replica', async (t) => {
  const info: BrokerInfo = {
    status: {
      nodeId: 'n0', brokerName: 'broker-a', role: 'MASTER', raftRole: 'leader', brokerId: 0, term: 2, leaderId: 'n0', leaderAddr: '127.0.0.1:10911',
      commitIndex: 10, appliedIndex: 10, lastIndex: 10, leaderCommitIndex: 10, recovering: false, pid: 42, addr: '127.0.0.1:10911',
    },
    staleness: null,
    metricsPort: 0,
    topics: [{ topic: 'orders', queues: [{ queueId: 0, minOffset: 0, maxOffset: 1, lastUpdateTimestamp: 0 }, { queueId: 1, minOffset: 0, maxOffset: 0, lastUpdateTimestamp: 0 }] }],
    consumerOffsets: [{ group: 'g', topic: 'orders', queueId: 0, offset: 1, lag: 0 }],
    roleChanges: [],
    keyIndexEntries: -1,
    truncated: false,
  };
  const lines = brokerStatusLines(info);
  t.ok(lines.every((l) => /^\S+ *: .*$/.test(l)), 'every line is key: value');
  for (const want of [/^brokerName +: broker-a$/, /^role +: MASTER$/, /^leader +: n0 \(127\.0\.0\.1:10911\)$/, /^queues +: 2$/, /^consumerGroups +: 1$/, /^keyIndexEntries +: off$/, /^metricsPort +: off$/]) {
    t.ok(lines.some((l) => want.test(l)), String(want));
  }
});

t.test('raftmq cluster: groups are broker-a, broker-b, ...; the NameServer port must not be a replica port', async (t) => {
  t.strictSame([0, 1, 25].map(brokerNameOf), ['broker-a', 'broker-b', 'broker-z']);
  t.throws(() => brokerNameOf(26), RangeError);
  t.doesNotThrow(() => checkNamesrvPort(9876, 10911, 2));
  t.throws(() => checkNamesrvPort(10925, 10911, 2), { name: 'UsageError', message: /--namesrv-port 10925 is among the replicas' ports \(10911\.\.10930\)/ });
  t.throws(() => checkNamesrvPort(30915, 10911, 1), /among the replicas' ports \(30911\.\.30920\)/, 'the metrics ports count');
  t.doesNotThrow(() => checkNamesrvPort(10921, 10911, 1), 'a second group would be there, but there is none');
  t.strictSame(parseBrokerNames('broker-a, broker-b'), ['broker-a', 'broker-b']);
  t.throws(() => parseBrokerNames('a,a'), { message: '--broker-names: a is named twice' });
  t.ok(new UsageError('x') instanceof Error);
});

t.test("raftmq cluster's command line: --groups needs the NameServer; --nodes stays odd", async (t) => {
  const cluster = await COMMANDS.cluster!.load();
  await t.rejects(cluster.run(['--groups', '2', '--no-namesrv']), { name: 'UsageError', message: /--groups needs the NameServer/ });
  await t.rejects(cluster.run(['--nodes', '2']), { name: 'UsageError', message: /--nodes should be odd/ });
  await t.rejects(cluster.run(['--groups', '9']), { name: 'UsageError', message: /--groups must be in 1\.\.8/ });
  await t.rejects(cluster.run(['--base-port', '9870']), { name: 'UsageError', message: /--namesrv-port 9876 is among the replicas' ports/ });
});
