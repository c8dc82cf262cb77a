// Operator calls: node status, topic creation, leadership transfer, routes, a group's offsets,
// what one replica knows (brokerInfo), message lookups by msgId and by key, the group's members
// and changes to them (membership.ts). Admin acts on one broker group; ClusterAdmin on the
// groups a NameServer knows (mqadmin's cluster-wide commands), one Admin per group.
import {
  type BrokerData,
  type BrokerInfo,
  type ClusterInfo,
  type QueueInfo,
  type TopicRouteData,
  type MembersInfo,
  type NodeStatus,
  type ReadConsistency,
  type StoredMessage,
  QUERY_MESSAGE_COUNT_MAX,
  RaftmqError,
} from '../protocol/index.ts';
import { ClusterClient, DISCOVERY_TIMEOUT_MS_MAX, consistencyOf, type ClusterOptions } from './cluster.ts';
import {
  type AddMemberOptions,
  type MemberChangeOptions,
  MEMBER_CATCH_UP_TIMEOUT_MS_DEFAULT,
  changeOutcome,
  checkMemberAddrs,
  checkMemberId,
  memberOf,
  promoteWhenCaughtUp,
} from './membership.ts';
import { NamesrvClient } from './namesrv-client.ts';
import type { RequestInput, RouteResponse } from './types.ts';

export interface AdminOptions extends ClusterOptions {
  /** Deadline of one admin call, retries included. */
  readonly timeoutMs?: number;
}

export interface NodeStatusResult {
  readonly addr: string;
  readonly status: NodeStatus | null;
  readonly error: RaftmqError | null;
}

/** One queue as a consumer group stands in it. */
export interface QueueProgress {
  readonly queueId: number;
  readonly minOffset: number;
  /** The next offset to be written. */
  readonly maxOffset: number;
  /** The group's committed offset; -1 when it has none. */
  readonly offset: number;
  /** Messages stored at or past the committed offset (maxOffset - offset); null without one. */
  readonly lag: number | null;
}

/** How current the offsets an admin call reads must be (ReadConsistency). */
export interface OffsetReadOptions {
  /**
   * 'committed' (the default): the master's applied state, which a master cut off from its group
   * may not know to be stale. 'linearizable': the master first confirms with a quorum that it
   * still leads (one heartbeat round to a quorum, Raft's ReadIndex), so the read reflects every
   * write acknowledged before it began, or fails (NO_QUORUM, TIMEOUT).
   */
  readonly consistency?: ReadConsistency;
}

/** What resetOffsetByTime did to one queue. */
export interface OffsetReset {
  readonly queueId: number;
  /** The group's committed offset before the reset; -1 when it had none. */
  readonly previous: number;
  readonly offset: number;
}

/** One queue's offsets (RocketMQ's TopicOffset, a row of mqadmin topicStatus). */
export interface TopicOffset {
  readonly queueId: number;
  readonly minOffset: number;
  /** The next offset to be written. */
  readonly maxOffset: number;
  /** Store time of the queue's newest message (ms since the epoch; 0 when it has none); null from
   *  a broker too old to say. */
  readonly lastUpdateTimestamp: number | null;
}

/** A queue of a topic on one broker group (a row of mqadmin topicStatus). */
export interface GroupTopicOffset extends TopicOffset {
  readonly brokerName: string;
}

export class Admin {
  private readonly cluster: ClusterClient;
  private readonly timeoutMs: number;

  constructor(options: AdminOptions) {
    this.cluster = new ClusterClient(options);
    this.timeoutMs = options.timeoutMs ?? 5000;
  }

  /** One node's status (no retry). */
  status(server: string): Promise<NodeStatus> {
    return this.cluster.status(server);
  }

  /** Every listed node's status; unreachable ones carry their error. */
  statusAll(servers: readonly string[] = this.cluster.servers): Promise<NodeStatusResult[]> {
    return Promise.all(
      servers.map((addr) =>
        this.cluster.status(addr).then(
          (status) => ({ addr, status, error: null }),
          (err: unknown) => ({
            addr,
            status: null,
            error: err instanceof RaftmqError ? err : new RaftmqError('INTERNAL', String(err), { cause: err }),
          }),
        ),
      ),
    );
  }

  /** What one replica knows (no retry): its status, topics and queues, consumer offsets, recent
   *  role changes, where its metrics are. */
  async brokerInfo(server: string, timeoutMs?: number): Promise<BrokerInfo> {
    return (await this.cluster.request<'brokerInfo'>(server, { type: 'brokerInfo' }, timeoutMs)).info;
  }

  /** RocketMQ's viewMessage (queryMsgById): the message `msgId` names, or null when it is not
   *  stored (or no longer). Asked of the master when known, else of any replica. */
  async viewMessage(msgId: string): Promise<StoredMessage | null> {
    const resp = await this.cluster.callAny<'viewMessage'>({ type: 'viewMessage', msgId }, this.lookupCall());
    return resp.messages[0] ?? null;
  }

  /** RocketMQ's queryMessage (queryMsgByKey): the newest messages of `topic` whose keys include
   *  `key`, at most `maxCount` (1..QUERY_MESSAGE_COUNT_MAX). */
  async queryMessage(topic: string, key: string, maxCount = 32): Promise<StoredMessage[]> {
    if (!Number.isInteger(maxCount) || maxCount < 1 || maxCount > QUERY_MESSAGE_COUNT_MAX) throw new TypeError(`maxCount must be an integer in 1..${QUERY_MESSAGE_COUNT_MAX}`);
    return (await this.cluster.callAny<'queryMessage'>({ type: 'queryMessage', topic, key, maxCount }, this.lookupCall())).messages;
  }

  /** Creates (or updates) a topic with `queues` queues, on the master. */
  async createTopic(topic: string, queues: number): Promise<void> {
    if (!Number.isInteger(queues) || queues <= 0) throw new TypeError('queues must be a positive integer');
    await this.cluster.callMaster<'createTopic'>({ type: 'createTopic', topic, queues }, this.call());
    this.cluster.invalidateRoute(topic);
  }

  /** Removes `topic` from the group (its queues and consumer offsets; the messages stay in the log
   *  until retention drops them), on the master. TOPIC_NOT_FOUND when the group has no such topic. */
  async deleteTopic(topic: string): Promise<void> {
    await this.cluster.callMaster<'deleteTopic'>({ type: 'deleteTopic', topic }, this.call());
    this.cluster.invalidateRoute(topic);
  }

  /**
   * mqadmin topicStatus on this group: every queue of `topic` with its offsets, from the brokerInfo
   * of the master (found as callMaster finds it). A topic list that brokerInfo had to cut
   * (BROKER_INFO_ROWS_MAX) is read queue by queue instead, without last update times.
   */
  async topicStatus(topic: string): Promise<GroupTopicOffset[]> {
    const info = (await this.cluster.callMaster<'brokerInfo'>({ type: 'brokerInfo' }, this.call())).info;
    const brokerName = info.status.brokerName;
    const found = info.topics.find((t) => t.topic === topic);
    if (found !== undefined) {
      return found.queues.map((q) => ({ brokerName, queueId: q.queueId, minOffset: q.minOffset, maxOffset: q.maxOffset, lastUpdateTimestamp: lastUpdateOf(q) }));
    }
    if (!info.truncated) throw new RaftmqError('TOPIC_NOT_FOUND', `topic ${topic} does not exist on ${brokerName}`);
    const queues = (await this.route(topic)).queues;
    return Promise.all(
      Array.from({ length: queues }, async (_, queueId): Promise<GroupTopicOffset> => ({ brokerName, queueId, ...(await this.queueBounds(topic, queueId, {})), lastUpdateTimestamp: null })),
    );
  }

  /** Asks the master to hand leadership to node `to`. */
  async transferLeader(to: string): Promise<void> {
    await this.cluster.callMaster<'transferLeader'>({ type: 'transferLeader', to }, this.call());
  }

  /** RocketMQ's searchOffset: the offset of the queue's first message stored at or after
   *  `timestamp` (ms since the epoch), or the queue's max offset when every message is older. */
  async searchOffset(topic: string, queueId: number, timestamp: number): Promise<number> {
    return (await this.cluster.callMaster<'searchOffset'>({ type: 'searchOffset', topic, queueId, timestamp }, this.call())).offset;
  }

  /** Every queue of `topic` with `group`'s committed offset and lag, as the master has them
   *  (`consistency`: OffsetReadOptions). */
  async consumerProgress(group: string, topic: string, options: OffsetReadOptions = {}): Promise<QueueProgress[]> {
    const queues = (await this.route(topic)).queues;
    return Promise.all(
      Array.from({ length: queues }, async (_, queueId): Promise<QueueProgress> => {
        const [bounds, offset] = await Promise.all([this.queueBounds(topic, queueId, options), this.queryOffset(group, topic, queueId, options)]);
        return { queueId, minOffset: bounds.minOffset, maxOffset: bounds.maxOffset, offset, lag: offset < 0 ? null : Math.max(0, bounds.maxOffset - offset) };
      }),
    );
  }

  /**
   * RocketMQ's resetOffsetByTime (mqadmin resetOffsetByTime): for every queue of `topic`, sets
   * `group`'s committed offset to the first message stored at or after `timestamp` (ms since the
   * epoch; the queue's max offset when every message is older). A consumer of the group that is
   * running keeps its own position and commits it over the reset: stop the group's consumers
   * first. Returns each queue's offset before (read as `options.consistency` says) and after.
   */
  async resetOffsetByTime(group: string, topic: string, timestamp: number, options: OffsetReadOptions = {}): Promise<OffsetReset[]> {
    if (!Number.isSafeInteger(timestamp) || timestamp < 0) throw new TypeError('timestamp must be a non-negative integer (ms since the epoch)');
    const queues = (await this.route(topic)).queues;
    return Promise.all(
      Array.from({ length: queues }, async (_, queueId): Promise<OffsetReset> => {
        const [previous, offset] = await Promise.all([this.queryOffset(group, topic, queueId, options), this.searchOffset(topic, queueId, timestamp)]);
        await this.cluster.callMaster<'commitOffset'>({ type: 'commitOffset', group, topic, queueId, offset }, this.call());
        return { queueId, previous, offset };
      }),
    );
  }

  /**
   * The group's members as its configuration has them: voters and learners, which one is master,
   * each one's addresses and, from the master, its match index, lag and whether it answers.
   * Asked of `server` alone when given (its own view; no retry), else of the master when one is
   * found, else of any replica (then match, lag and active are null).
   */
  async members(server?: string): Promise<MembersInfo> {
    if (server !== undefined) return (await this.cluster.request<'members'>(server, { type: 'members' }, this.timeoutMs)).members;
    const call = this.call();
    const master = await this.cluster.discoverMaster(Math.min(call.deadline, Date.now() + DISCOVERY_TIMEOUT_MS_MAX * 2)).catch(() => null);
    return (await this.cluster.callAny<'members'>({ type: 'members' }, { ...call, ...(master !== null ? { prefer: [master] } : {}) })).members;
  }

  /**
   * Adds replica `nodeId` (reachable by the others at `peerAddr`, by clients at `clientAddr`) as a
   * learner: it receives the log, never votes. Unless `learner`, then waits until it has caught
   * up and promotes it to voter: the master refuses a promotion while the learner lags, and it is
   * asked again (its progress read every MEMBER_POLL_MS, handed to `onProgress`) until
   * `timeoutMs` (default 10 min; then TIMEOUT naming the lag, the learner staying). A replica
   * that is already a learner at these addresses is not an error: the wait goes on from there.
   * Returns the final configuration. TypeError for a malformed id or address; each refusal of
   * the master (MEMBER_CHANGE_REFUSED) as it is. A change whose answer was lost is not sent
   * again: the error says `outcome: 'unknown'`; read members() to see what is in force.
   */
  async addMember(nodeId: string, peerAddr: string, clientAddr: string, options: AddMemberOptions = {}): Promise<MembersInfo> {
    checkMemberId(nodeId);
    checkMemberAddrs(peerAddr, clientAddr);
    const timeoutMs = options.timeoutMs ?? MEMBER_CATCH_UP_TIMEOUT_MS_DEFAULT;
    if (!Number.isSafeInteger(timeoutMs) || timeoutMs <= 0) throw new TypeError(`timeoutMs must be a positive integer, got ${String(timeoutMs)}`);
    const deadline = Date.now() + timeoutMs;
    const added = await this.addLearner(nodeId, peerAddr, clientAddr, options);
    if (options.learner === true || memberOf(added, nodeId)?.kind === 'VOTER') return added;
    return promoteWhenCaughtUp({ members: () => this.members(), promote: (id, o) => this.promoteMember(id, o) }, nodeId, deadline, options);
  }

  /** Makes learner `nodeId` a voter; MEMBER_CHANGE_REFUSED while it lags (addMember waits that
   *  out) or when it is no learner. Not retried after an unknown outcome (see addMember). */
  async promoteMember(nodeId: string, options: MemberChangeOptions = {}): Promise<MembersInfo> {
    checkMemberId(nodeId);
    return this.changeMembers({ type: 'memberChange', op: 'promote', nodeId, ...forceOf(options) });
  }

  /** Removes voter or learner `nodeId`; a removed master steps down first. Refused (unless
   *  `force`) when it would leave the group without a quorum of live replicas, and always when
   *  it is the last voter. Not retried after an unknown outcome (see addMember). */
  async removeMember(nodeId: string, options: MemberChangeOptions = {}): Promise<MembersInfo> {
    checkMemberId(nodeId);
    return this.changeMembers({ type: 'memberChange', op: 'remove', nodeId, ...forceOf(options) });
  }

  /** The add itself. A refusal or lost answer where the configuration already has `nodeId` at
   *  these addresses (an earlier try or run went through) counts as done: as a learner, or as a
   *  voter when a voter is the goal anyway. */
  private async addLearner(nodeId: string, peerAddr: string, clientAddr: string, options: AddMemberOptions): Promise<MembersInfo> {
    try {
      return await this.changeMembers({ type: 'memberChange', op: 'add', nodeId, peerAddr, clientAddr, ...forceOf(options) });
    } catch (err) {
      const refused = err instanceof RaftmqError && (err.code === 'MEMBER_CHANGE_REFUSED' || err.code === 'BAD_REQUEST');
      if (!refused && changeOutcome(err) !== 'unknown') throw err;
      const info = await this.members().catch(() => null);
      const member = info === null ? undefined : memberOf(info, nodeId);
      const done = member !== undefined && member.peerAddr === peerAddr && member.clientAddr === clientAddr && (member.kind === 'LEARNER' || options.learner !== true);
      if (!done) throw err;
      return info!;
    }
  }

  /** A membership change on the master: retried only where no try can have applied it. */
  private async changeMembers(frame: RequestInput<'memberChange'>): Promise<MembersInfo> {
    return (await this.cluster.callMaster<'memberChange'>(frame, { ...this.call(), retryUnknown: false })).members;
  }

  /** The group's committed offset of one queue (-1: none), from the master. */
  private async queryOffset(group: string, topic: string, queueId: number, options: OffsetReadOptions): Promise<number> {
    const frame: RequestInput<'queryOffset'> = { type: 'queryOffset', group, topic, queueId, ...consistencyOf(options) };
    return (await this.cluster.callMaster<'queryOffset'>(frame, this.call())).offset;
  }

  /** A queue's bounds on the master: a pull past the end answers them and no message. */
  private async queueBounds(topic: string, queueId: number, options: OffsetReadOptions): Promise<{ minOffset: number; maxOffset: number }> {
    const r = await this.cluster.callMaster<'pull'>(
      { type: 'pull', topic, queueId, offset: Number.MAX_SAFE_INTEGER, maxCount: 1, maxBytes: 1, waitMs: 0, ...consistencyOf(options) },
      this.call(),
    );
    return { minOffset: r.minOffset, maxOffset: r.maxOffset };
  }

  /** The topic's route (queue count, master, replicas), fresh from a server; TOPIC_NOT_FOUND
   *  for a topic that does not exist, whether or not a send would create it. */
  route(topic: string): Promise<RouteResponse> {
    return this.cluster.route(topic, this.call(), { refresh: true, mustExist: true });
  }

  close(): Promise<void> {
    return this.cluster.close();
  }

  private call() {
    return { tries: 3, deadline: Date.now() + this.timeoutMs };
  }

  /** Lookups are answered by any replica from its own state: the master's is the most current. */
  private lookupCall() {
    const master = this.cluster.master;
    return { ...this.call(), ...(master !== null ? { prefer: [master] } : {}) };
  }
}

/** QueueInfo.lastUpdateTimestamp where the broker sends it (a broker of an earlier version, in a
 *  rolling upgrade, does not). */
function lastUpdateOf(q: QueueInfo): number | null {
  const t: unknown = (q as { lastUpdateTimestamp?: unknown }).lastUpdateTimestamp;
  return typeof t === 'number' ? t : null;
}

function forceOf(options: MemberChangeOptions): { force?: true } {
  return options.force === true ? { force: true } : {};
}

export interface ClusterAdminOptions {
  /** host:port of the NameServers; any one that answers is enough. */
  readonly namesrv: readonly string[];
  /** Deadline of one call to one group, retries included. */
  readonly timeoutMs?: number;
  /** Timeout of one request (to a NameServer or a replica). */
  readonly requestTimeoutMs?: number;
}

/** What a cluster-wide call did on one broker group. */
export interface GroupOutcome {
  readonly brokerName: string;
  /** 'absent': deleteTopic found no such topic there; 'failed': `error` says why. */
  readonly result: 'done' | 'absent' | 'failed';
  readonly error: RaftmqError | null;
}

/** Which groups updateTopic acts on: the named ones, or every group of `cluster` (the one
 *  cluster the NameServer knows, when neither is given). */
export interface TopicGroupsOptions {
  readonly cluster?: string;
  readonly brokerNames?: readonly string[];
}

/**
 * RocketMQ's mqadmin over NameServers: the cluster, topic list and routes as the NameServers
 * have them, and topic changes and queue offsets asked of each broker group's master (an Admin
 * per group over its live replicas, as the NameServer lists them). Calls to several groups run
 * together; one group's failure is its outcome, not the call's.
 */
export class ClusterAdmin {
  readonly namesrv: NamesrvClient;
  private readonly timeoutMs: number;
  private readonly requestTimeoutMs: number | undefined;

  constructor(options: ClusterAdminOptions) {
    this.namesrv = new NamesrvClient({ namesrv: options.namesrv, ...(options.requestTimeoutMs !== undefined ? { requestTimeoutMs: options.requestTimeoutMs } : {}) });
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.requestTimeoutMs = options.requestTimeoutMs;
  }

  /** mqadmin clusterList: clusters -> broker groups -> replicas. */
  clusterInfo(): Promise<ClusterInfo> {
    return this.namesrv.clusterInfo();
  }

  /** mqadmin topicList: every topic some live group holds. */
  topicList(): Promise<string[]> {
    return this.namesrv.topicList();
  }

  /** mqadmin topicRoute; TOPIC_NOT_FOUND when no live group holds it. */
  topicRoute(topic: string): Promise<TopicRouteData> {
    return this.namesrv.topicRoute(topic);
  }

  /** The broker groups the NameServer knows, by brokerName; only those of `cluster` when given
   *  (BAD_REQUEST naming the known clusters when it knows no such cluster). */
  async groups(cluster?: string): Promise<BrokerData[]> {
    const info = await this.clusterInfo();
    let names = Object.keys(info.brokerAddrTable);
    if (cluster !== undefined) {
      const inCluster = info.clusterAddrTable[cluster];
      if (inCluster === undefined) throw new RaftmqError('BAD_REQUEST', `the NameServer knows no cluster ${cluster} (${knownList(Object.keys(info.clusterAddrTable))})`);
      names = [...inCluster];
    }
    return names
      .sort()
      .map((n) => info.brokerAddrTable[n])
      .filter((b): b is BrokerData => b !== undefined);
  }

  /** mqadmin topicStatus: every queue of `topic` on every group its route names. Groups that
   *  did not answer are listed with their error. */
  async topicStatus(topic: string): Promise<{ queues: GroupTopicOffset[]; failed: GroupOutcome[] }> {
    const route = await this.topicRoute(topic);
    const groups = route.brokerDatas.filter((b) => route.queueDatas.some((q) => q.brokerName === b.brokerName));
    const results = await Promise.all(groups.map((b) => this.onGroup(b, (admin) => admin.topicStatus(topic))));
    const queues: GroupTopicOffset[] = [];
    const failed: GroupOutcome[] = [];
    results.forEach((r, i) => {
      const brokerName = groups[i]!.brokerName;
      if (r.error !== null) failed.push({ brokerName, result: 'failed', error: r.error });
      else queues.push(...r.value);
    });
    return { queues, failed };
  }

  /** mqadmin updateTopic: creates `topic` with `queues` queues on each group (or grows it there),
   *  through each group's master (groups: TopicGroupsOptions). */
  async updateTopic(topic: string, queues: number, options: TopicGroupsOptions = {}): Promise<GroupOutcome[]> {
    if (!Number.isInteger(queues) || queues <= 0) throw new TypeError('queues must be a positive integer');
    const groups = await this.targetGroups(options);
    return Promise.all(groups.map(async (b) => outcomeOf(b.brokerName, await this.onGroup(b, (admin) => admin.createTopic(topic, queues)))));
  }

  /** mqadmin deleteTopic: removes `topic` from every group of `cluster` (every group when not
   *  given) that has it, through each master. TOPIC_NOT_FOUND when no group had it. */
  async deleteTopic(topic: string, options: { readonly cluster?: string } = {}): Promise<GroupOutcome[]> {
    const groups = await this.groups(options.cluster);
    const outcomes = await Promise.all(groups.map(async (b) => outcomeOf(b.brokerName, await this.onGroup(b, (admin) => admin.deleteTopic(topic)))));
    if (outcomes.length === 0 || outcomes.every((o) => o.result === 'absent')) throw new RaftmqError('TOPIC_NOT_FOUND', `no broker group has topic ${topic}`);
    return outcomes;
  }

  close(): Promise<void> {
    return this.namesrv.close();
  }

  private async targetGroups(options: TopicGroupsOptions): Promise<BrokerData[]> {
    const { cluster, brokerNames } = options;
    if (cluster === undefined && brokerNames === undefined) {
      const clusters = Object.keys((await this.clusterInfo()).clusterAddrTable);
      if (clusters.length === 0) throw new RaftmqError('BAD_REQUEST', `the NameServer knows no broker group (${knownList(clusters)})`);
      if (clusters.length > 1) throw new RaftmqError('BAD_REQUEST', `the NameServer knows several clusters: name one, or the broker groups (${knownList(clusters)})`);
      return this.groups(clusters[0]);
    }
    const groups = await this.groups(cluster);
    if (brokerNames === undefined) return groups;
    const missing = brokerNames.filter((n) => !groups.some((b) => b.brokerName === n));
    if (missing.length > 0) {
      throw new RaftmqError('BAD_REQUEST', `the NameServer knows no broker group ${missing.join(', ')}${cluster !== undefined ? ` in cluster ${cluster}` : ''} (${knownList(groups.map((b) => b.brokerName))})`);
    }
    return groups.filter((b) => brokerNames.includes(b.brokerName));
  }

  /** `fn` with an Admin over the group's live replicas, closed afterwards; its error as a value. */
  private async onGroup<T>(group: BrokerData, fn: (admin: Admin) => Promise<T>): Promise<{ value: T; error: null } | { value: null; error: RaftmqError }> {
    const servers = groupServers(group);
    if (servers.length === 0) return { value: null, error: new RaftmqError('CONNECTION_LOST', `the NameServer lists no live replica of ${group.brokerName}`) };
    const admin = new Admin({ servers, timeoutMs: this.timeoutMs, ...(this.requestTimeoutMs !== undefined ? { requestTimeoutMs: this.requestTimeoutMs } : {}) });
    try {
      return { value: await fn(admin), error: null };
    } catch (err) {
      return { value: null, error: err instanceof RaftmqError ? err : new RaftmqError('INTERNAL', String(err), { cause: err }) };
    } finally {
      await admin.close();
    }
  }
}

/** A group's client addresses as the NameServer lists them: the master first, then the others. */
export function groupServers(group: BrokerData): string[] {
  const master = group.brokerAddrs['0'];
  const all = [...(master !== undefined ? [master] : []), ...group.replicas.map((r) => r.addr), ...Object.values(group.brokerAddrs)];
  return [...new Set(all)];
}

function outcomeOf(brokerName: string, r: { error: RaftmqError | null }): GroupOutcome {
  if (r.error === null) return { brokerName, result: 'done', error: null };
  return { brokerName, result: r.error.code === 'TOPIC_NOT_FOUND' ? 'absent' : 'failed', error: r.error };
}

function knownList(names: readonly string[]): string {
  return names.length === 0 ? 'none known: are the brokers started with namesrvAddr in their broker.conf?' : `known: ${[...names].sort().join(', ')}`;
}
