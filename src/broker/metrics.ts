// The broker's Prometheus metrics (names under raftmq_; docs/observability.md lists them). What
// moves on the hot path is recorded per batch (one observation per Ready's append, per send
// request, per pull) into plain numbers (src/metrics/plain.ts) that a scrape reads; everything
// that is a level (term, indexes, lag, disk) is read from its owner only when scraped.
import fs from 'node:fs';
import { Counter, Gauge, type Registry } from 'prom-client';
import { BoundedLabel, PlainHistogram, createRegistry, type PlainHistogramSeries } from '../metrics/index.ts';
import type { ErrorCode } from '../protocol/index.ts';
import { Role, NONE, type NodeId, type RaftStatus, type SoftState } from '../raft/index.ts';

/** Latency buckets in seconds: 100 us .. 10 s. */
const LATENCY_BUCKETS_SECONDS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Topics with a label of their own; the rest share topic="_other". */
const TOPIC_LABELS_MAX = 256;
/** Consumer lag series (group, topic, queue) exported per scrape; the rest are left out. */
export const CONSUMER_LAG_SERIES_MAX = 2048;
/** Consumer groups whose member count is exported per scrape; the rest are left out. */
export const CONSUMER_GROUP_SERIES_MAX = 1024;

const ROLE_LABELS: Readonly<Record<Role, string>> = {
  [Role.Follower]: 'follower',
  [Role.PreCandidate]: 'pre_candidate',
  [Role.Candidate]: 'candidate',
  [Role.Leader]: 'leader',
};

/** What the driver records (implemented by BrokerMetrics; absent when metrics are off). */
export interface ReplicaMetrics {
  /** One Ready's entries became durable `seconds` after their write started. */
  appended(seconds: number): void;
  roleChanged(before: SoftState, after: SoftState): void;
}

/** What the client server records (implemented by BrokerMetrics; absent when metrics are off). */
export interface ServerMetrics {
  /** One send request: its messages and body bytes, answered `seconds` after it arrived. */
  received(topic: string, messages: number, bytes: number, seconds: number): void;
  /** One send request of an idempotent producer answered from its window (a retry of a batch
   *  stored before: nothing stored again), `seconds` after it arrived. */
  duplicateAnswered(seconds: number): void;
  /** One pull answered with messages: their count and body bytes, `seconds` to build the answer. */
  delivered(topic: string, messages: number, bytes: number, seconds: number): void;
  failed(code: ErrorCode): void;
}

/** What the commitlog reports (CommitLogOptions.observer). */
export interface FlushMetrics {
  synced(kind: 'fdatasync' | 'directWrite', seconds: number): void;
}

/** Where the levels are read at scrape time. */
export interface MetricsSources {
  raftStatus(): RaftStatus;
  appliedIndex(): number;
  /** Log bytes after `index`, as the files lay them out (a follower's lag in bytes). */
  logBytesAfter(index: number): number;
  logStats(): { readonly bytesWritten: number; readonly segmentCount: number; readonly segmentBytes: number };
  /** A directory on the store's filesystem (for its fullness). */
  readonly storeDir: string;
  clientConnections(): number;
  peerConnections(): number;
  /** At most `max` (group, topic, queue) entries with the group's lag there. */
  consumerLags(max: number): Iterable<{ readonly group: string; readonly topic: string; readonly queueId: number; readonly lag: number }>;
  keyIndexEntries(): number;
  /** Live members per consumer group (the master's registry), at most `max` groups. */
  consumerGroupMembers?(max: number): Iterable<{ readonly group: string; readonly members: number }>;
  /** First index of the log on disk, and the first index retention keeps. */
  logFirstIndex(): number;
  retainedFrom(): number;
}

/** One topic's counts, plain numbers until a scrape reads them. */
interface TopicCounts {
  readonly topic: string;
  messagesIn: number;
  bytesIn: number;
  messagesOut: number;
  bytesOut: number;
}

export class BrokerMetrics implements ReplicaMetrics, ServerMetrics, FlushMetrics {
  readonly registry: Registry;
  private readonly appendSeconds: PlainHistogramSeries;
  private readonly sendSeconds: PlainHistogramSeries;
  private readonly pullSeconds: PlainHistogramSeries;
  private readonly flushByKind: Readonly<Record<'fdatasync' | 'directWrite', PlainHistogramSeries>>;
  private readonly errors: Counter<'code'>;
  private readonly duplicateSends: Counter;
  private readonly leaderChanges: Counter;
  private readonly preVotesStarted: Counter;
  private readonly electionsStarted: Counter;
  private readonly electionsWon: Counter;
  private readonly topics: BoundedLabel<TopicCounts>;
  private readonly topicList: TopicCounts[] = [];
  private sources: MetricsSources | null = null;

  constructor(registry: Registry = createRegistry()) {
    this.registry = registry;
    const registers = [registry];
    const histogram = (name: string, help: string) => new PlainHistogram(registry, name, help, LATENCY_BUCKETS_SECONDS).of();
    this.appendSeconds = histogram('raftmq_raft_append_seconds', 'Time from the start of a Ready\'s log write to its entries being durable (write and fsync).');
    this.sendSeconds = histogram('raftmq_broker_send_seconds', 'Time from a send request\'s arrival at the master to its answer (replication and commit included).');
    this.pullSeconds = histogram('raftmq_broker_pull_seconds', 'Time to build a pull\'s answer (a long poll\'s wait excluded).');
    const flush = new PlainHistogram(registry, 'raftmq_commitlog_flush_seconds', 'Duration of each commitlog sync: an fdatasync, or a direct (O_DIRECT|O_DSYNC) data write.', LATENCY_BUCKETS_SECONDS, 'kind');
    this.flushByKind = { fdatasync: flush.of('fdatasync'), directWrite: flush.of('direct_write') };
    this.errors = new Counter({ name: 'raftmq_broker_errors_total', help: 'Requests answered with an error, by error code.', labelNames: ['code'], registers });
    this.duplicateSends = new Counter({ name: 'raftmq_broker_duplicate_sends_total', help: 'Send requests (batches) of idempotent producers answered with the result of the same batch stored before, storing nothing again (retries).', registers });
    this.leaderChanges = new Counter({ name: 'raftmq_raft_leader_changes_total', help: 'Times this replica learned of a new leader (itself included).', registers });
    this.preVotesStarted = new Counter({ name: 'raftmq_raft_pre_votes_started_total', help: 'Pre-vote rounds this replica started.', registers });
    this.electionsStarted = new Counter({ name: 'raftmq_raft_elections_started_total', help: 'Elections this replica started (as a candidate, after a pre-vote it won).', registers });
    this.electionsWon = new Counter({ name: 'raftmq_raft_elections_won_total', help: 'Elections this replica won (it became leader).', registers });
    const topicList = this.topicList;
    const topicCounter = (name: string, help: string, read: (t: TopicCounts) => number) =>
      new Counter({
        name,
        help,
        labelNames: ['topic'],
        registers,
        collect() {
          this.reset();
          for (const t of topicList) this.inc({ topic: t.topic }, read(t));
        },
      });
    topicCounter('raftmq_broker_messages_in_total', 'Messages stored through this replica as master, by topic.', (t) => t.messagesIn);
    topicCounter('raftmq_broker_bytes_in_total', 'Message body bytes stored through this replica as master, by topic.', (t) => t.bytesIn);
    topicCounter('raftmq_broker_messages_out_total', 'Messages this replica delivered to pulls, by topic.', (t) => t.messagesOut);
    topicCounter('raftmq_broker_bytes_out_total', 'Message body bytes this replica delivered to pulls, by topic.', (t) => t.bytesOut);
    this.topics = new BoundedLabel(TOPIC_LABELS_MAX, (topic) => {
      const counts = { topic, messagesIn: 0, bytesIn: 0, messagesOut: 0, bytesOut: 0 };
      topicList.push(counts);
      return counts;
    });
    this.defineLevels(registers);
  }

  /** Where the levels come from; set once the replica's parts exist (until then they are absent). */
  useSources(sources: MetricsSources): void {
    this.sources = sources;
  }

  appended(seconds: number): void {
    this.appendSeconds.observe(seconds);
  }

  roleChanged(before: SoftState, after: SoftState): void {
    if (after.leaderId !== NONE && after.leaderId !== before.leaderId) this.leaderChanges.inc();
    if (after.role === before.role && after.term === before.term) return;
    if (after.role === Role.PreCandidate) this.preVotesStarted.inc();
    if (after.role === Role.Candidate) this.electionsStarted.inc();
    if (after.role === Role.Leader && before.role !== Role.Leader) this.electionsWon.inc();
  }

  received(topic: string, messages: number, bytes: number, seconds: number): void {
    const t = this.topics.get(topic);
    t.messagesIn += messages;
    t.bytesIn += bytes;
    this.sendSeconds.observe(seconds);
  }

  duplicateAnswered(seconds: number): void {
    this.duplicateSends.inc();
    this.sendSeconds.observe(seconds);
  }

  delivered(topic: string, messages: number, bytes: number, seconds: number): void {
    const t = this.topics.get(topic);
    t.messagesOut += messages;
    t.bytesOut += bytes;
    this.pullSeconds.observe(seconds);
  }

  failed(code: ErrorCode): void {
    this.errors.inc({ code });
  }

  synced(kind: 'fdatasync' | 'directWrite', seconds: number): void {
    this.flushByKind[kind].observe(seconds);
  }

  /** The levels: read from the sources in each scrape (collect). */
  private defineLevels(registers: Registry[]): void {
    const self = this;
    const gauge = (name: string, help: string, read: (s: MetricsSources, g: Gauge) => void, labelNames: string[] = []) =>
      new Gauge({
        name,
        help,
        labelNames,
        registers,
        collect() {
          this.reset();
          if (self.sources !== null) read(self.sources, this);
        },
      });
    gauge('raftmq_raft_term', 'Current Raft term.', (s, g) => g.set(s.raftStatus().term));
    gauge('raftmq_raft_role', 'Raft role: 1 for the current one (leader = master).', (s, g) => {
      const role = s.raftStatus().role;
      for (const r of Object.values(Role)) g.set({ role: ROLE_LABELS[r] }, r === role ? 1 : 0);
    }, ['role']);
    gauge('raftmq_raft_commit_index', 'Highest log index known committed.', (s, g) => g.set(s.raftStatus().commit));
    gauge('raftmq_raft_applied_index', 'Highest log index applied to the broker state.', (s, g) => g.set(s.appliedIndex()));
    gauge('raftmq_raft_last_index', 'Last log index this replica holds.', (s, g) => g.set(s.raftStatus().lastIndex));
    gauge('raftmq_raft_follower_match_lag_entries', 'Leader only: entries each follower lacks (last index minus its match index).', (s, g) => {
      const st = s.raftStatus();
      for (const [id, p] of Object.entries(st.progress)) g.set({ follower: id }, Math.max(0, st.lastIndex - p.match));
    }, ['follower']);
    gauge('raftmq_raft_follower_match_lag_bytes', 'Leader only: log bytes each follower lacks (after its match index).', (s, g) => {
      for (const [id, p] of Object.entries(s.raftStatus().progress)) g.set({ follower: id as NodeId }, s.logBytesAfter(p.match));
    }, ['follower']);
    gauge('raftmq_commitlog_segments', 'Commitlog segment files.', (s, g) => g.set(s.logStats().segmentCount));
    gauge('raftmq_commitlog_first_index', 'First log index on disk (retention deletes whole segments below the cut).', (s, g) => g.set(s.logFirstIndex()));
    gauge('raftmq_broker_retained_from_index', 'First log index retention keeps: messages below it are deleted on every replica.', (s, g) => g.set(s.retainedFrom()));
    gauge('raftmq_commitlog_segment_bytes', 'Bytes of the commitlog segments (records, padding and gaps at segment ends).', (s, g) => g.set(s.logStats().segmentBytes));
    gauge('raftmq_commitlog_disk_used_ratio', 'Used fraction (0..1) of the filesystem holding the store.', (s, g) => {
      const st = fs.statfsSync(s.storeDir);
      if (st.blocks > 0) g.set(1 - st.bavail / st.blocks);
    });
    gauge('raftmq_client_connections', 'Client connections open now.', (s, g) => g.set(s.clientConnections()));
    gauge('raftmq_peer_connections', 'Outbound connections to peers that are up.', (s, g) => g.set(s.peerConnections()));
    gauge('raftmq_broker_consumer_lag_messages', `Messages stored past a consumer group's committed offset, per queue (at most ${CONSUMER_LAG_SERIES_MAX} series).`, (s, g) => {
      for (const l of s.consumerLags(CONSUMER_LAG_SERIES_MAX)) g.set({ group: l.group, topic: l.topic, queue: String(l.queueId) }, l.lag);
    }, ['group', 'topic', 'queue']);
    gauge('raftmq_broker_consumer_group_members', `Master only: live members of each consumer group (at most ${CONSUMER_GROUP_SERIES_MAX} groups).`, (s, g) => {
      for (const m of s.consumerGroupMembers?.(CONSUMER_GROUP_SERIES_MAX) ?? []) g.set({ group: m.group }, m.members);
    }, ['group']);
    gauge('raftmq_broker_key_index_entries', 'Entries in the message key index.', (s, g) => g.set(s.keyIndexEntries()));
    new Counter({
      name: 'raftmq_commitlog_written_bytes_total',
      help: 'Bytes written to the commitlog files (records and index entries).',
      registers,
      collect() {
        this.reset();
        if (self.sources !== null) this.inc(self.sources.logStats().bytesWritten);
      },
    });
  }
}
