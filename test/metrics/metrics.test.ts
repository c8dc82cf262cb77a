// The metrics: the broker's names and labels as a scrape shows them, the HTTP listener, and the
// text reader the dashboard turns into rates and quantiles.
import t from 'tap';
import { BrokerMetrics, type MetricsSources } from '../../src/broker/index.ts';
import { histogramBuckets, parsePrometheusText, quantileBetween, serveMetrics, sumOf } from '../../src/metrics/index.ts';
import { NONE, Role, type RaftStatus } from '../../src/raft/index.ts';

const status = (over: Partial<RaftStatus> = {}): RaftStatus => ({
  id: 'n0', role: Role.Leader, term: 7, vote: 'n0', leaderId: 'n0', commit: 90, applied: 90, lastIndex: 100, leaderCommit: 90, recovering: false, transferee: NONE, conf: { voters: ['n0', 'n1', 'n2'], learners: [] }, pendingConfIndex: 0,
  progress: { n1: { match: 100, next: 101, state: 'Replicate', inflight: 0, inflightBytes: 0, recentActive: true, pendingSnapshot: 0, learner: false }, n2: { match: 40, next: 41, state: 'Probe', inflight: 0, inflightBytes: 0, recentActive: false, pendingSnapshot: 0, learner: false } },
  ...over,
});

const sources = (over: Partial<MetricsSources> = {}): MetricsSources => ({
  raftStatus: () => status(),
  appliedIndex: () => 88,
  logBytesAfter: (index) => (100 - index) * 1000,
  logStats: () => ({ bytesWritten: 12345, segmentCount: 2, segmentBytes: 2048 }),
  storeDir: '.',
  clientConnections: () => 3,
  peerConnections: () => 1,
  consumerLags: () => [{ group: 'g', topic: 'T', queueId: 1, lag: 5 }],
  keyIndexEntries: () => 9,
  logFirstIndex: () => 5,
  retainedFrom: () => 7,
  ...over,
});

t.test('a scrape shows the levels from their sources and what was recorded, with bounded labels', async (t) => {
  const m = new BrokerMetrics();
  m.useSources(sources());
  m.received('T', 10, 1000, 0.002);
  m.received('T', 5, 500, 0.004);
  m.delivered('T', 3, 300, 0.0001);
  m.failed('NOT_MASTER');
  m.synced('directWrite', 0.001);
  m.appended(0.003);
  m.roleChanged({ role: Role.Follower, leaderId: NONE, term: 1 }, { role: Role.PreCandidate, leaderId: NONE, term: 1 });
  m.roleChanged({ role: Role.PreCandidate, leaderId: NONE, term: 1 }, { role: Role.Candidate, leaderId: NONE, term: 2 });
  m.roleChanged({ role: Role.Candidate, leaderId: NONE, term: 2 }, { role: Role.Leader, leaderId: 'n0', term: 2 });
  const s = parsePrometheusText(await m.registry.metrics());
  const v = (name: string, labels: Record<string, string> = {}) => sumOf(s, name, labels);
  t.equal(v('raftmq_raft_term'), 7);
  t.equal(v('raftmq_raft_role', { role: 'leader' }), 1);
  t.equal(v('raftmq_raft_role', { role: 'follower' }), 0);
  t.equal(v('raftmq_raft_applied_index'), 88);
  t.equal(v('raftmq_raft_follower_match_lag_entries', { follower: 'n2' }), 60);
  t.equal(v('raftmq_raft_follower_match_lag_bytes', { follower: 'n2' }), 60_000);
  t.equal(v('raftmq_raft_follower_match_lag_entries', { follower: 'n1' }), 0);
  t.equal(v('raftmq_broker_messages_in_total', { topic: 'T' }), 15);
  t.equal(v('raftmq_broker_bytes_in_total', { topic: 'T' }), 1500);
  t.equal(v('raftmq_broker_messages_out_total', { topic: 'T' }), 3);
  t.equal(v('raftmq_broker_send_seconds_count'), 2, 'one observation per request, not per message');
  t.equal(v('raftmq_broker_errors_total', { code: 'NOT_MASTER' }), 1);
  t.equal(v('raftmq_commitlog_flush_seconds_count', { kind: 'direct_write' }), 1);
  t.equal(v('raftmq_commitlog_written_bytes_total'), 12345);
  t.equal(v('raftmq_commitlog_segments'), 2);
  t.equal(v('raftmq_broker_consumer_lag_messages', { group: 'g', topic: 'T', queue: '1' }), 5);
  t.equal(v('raftmq_raft_pre_votes_started_total'), 1);
  t.equal(v('raftmq_raft_elections_started_total'), 1);
  t.equal(v('raftmq_raft_elections_won_total'), 1);
  t.equal(v('raftmq_raft_leader_changes_total'), 1);
  t.ok(v('process_cpu_seconds_total') > 0, 'the default process metrics are there');
  t.equal(v('raftmq_commitlog_first_index'), 5);
  t.equal(v('raftmq_broker_retained_from_index'), 7);
  const ratio = v('raftmq_commitlog_disk_used_ratio');
  t.ok(ratio > 0 && ratio < 1, `disk used ratio ${ratio}`);
  for (const name of new Set(s.map((x) => x.name))) {
    if (name.startsWith('raftmq_') && (name.endsWith('_total') || name.includes('_seconds') || name.includes('_bytes'))) continue;
    if (name.startsWith('raftmq_')) t.match(name, /_(index|term|role|entries|segments|ratio|connections|messages)$/, `${name} names its unit`);
  }
  for (let i = 0; i < 300; i++) m.received(`topic-${i}`, 1, 1, 0.001);
  const topics = new Set(parsePrometheusText(await m.registry.metrics()).filter((x) => x.name === 'raftmq_broker_messages_in_total').map((x) => x.labels.topic));
  t.ok(topics.size <= 257 && topics.has('_other'), `${topics.size} topic label values: the rest share _other`);
});

t.test('the listener serves /metrics and nothing else', async (t) => {
  const m = new BrokerMetrics();
  m.useSources(sources());
  const server = await serveMetrics({ host: '127.0.0.1', port: 0, registry: m.registry });
  try {
    const res = await fetch(`http://127.0.0.1:${server.port}/metrics`);
    t.equal(res.status, 200);
    t.match(res.headers.get('content-type'), /text\/plain/);
    t.match(await res.text(), /^raftmq_raft_term 7$/m);
    t.equal((await fetch(`http://127.0.0.1:${server.port}/`)).status, 404);
  } finally {
    await server.close();
  }
});

t.test('quantiles between two scrapes are interpolated inside their bucket', async (t) => {
  const text = (c: [number, number, number]) =>
    `x_bucket{le="0.001"} ${c[0]}\nx_bucket{le="0.01"} ${c[1]}\nx_bucket{le="+Inf"} ${c[2]}\nx_count ${c[2]}\n`;
  const before = histogramBuckets(parsePrometheusText(text([10, 10, 10])), 'x');
  const after = histogramBuckets(parsePrometheusText(text([10, 110, 110])), 'x');
  t.ok(Math.abs(quantileBetween(before, after, 0.5) - 0.0055) < 1e-12, '100 new observations, all in (1 ms, 10 ms]: the median halfway');
  t.ok(Number.isNaN(quantileBetween(after, after, 0.5)), 'nothing observed in between');
  t.same(parsePrometheusText('# HELP a b\na{x="q\\"uote"} 1.5\nb 2'), [{ name: 'a', labels: { x: 'q"uote' }, value: 1.5 }, { name: 'b', labels: {}, value: 2 }]);
});
