// The client-facing server of one replica: turns requests into proposals (writes, on the master)
// or reads of applied state (pulls, on any replica), and answers with the protocol's frames.
import { listen, type Frame, type LogFn, type Server, type ServerConnection } from '../net/index.ts';
import { Role, NONE, type NodeId } from '../raft/index.ts';
import { encodeCommand, type CommitOffsetEntry } from './commands.ts';
import { BrokerError, ProposalError } from './errors.ts';
import {
  PULL_WAIT_MS_MAX,
  RaftmqError,
  errorResponse,
  messagesFromWire,
  type NodeStatus,
  type ReplicaInfo,
  type Request,
  type Response,
} from '../protocol/index.ts';
import { brokerInfoOf, queryMessage, viewMessage } from './admin-reads.ts';
import type { ServerMetrics } from './metrics.ts';
import type { Replica } from './replica.ts';
import { brokerIdOf, brokerRoleOf } from './role.ts';
import { confChangeOf, membersInfoOf, replicaIdsOf, type MembersView } from './member-requests.ts';
import { ConsumerGroupService, RetryTopicCreator, type SlaveReadSettings } from './consumer-groups/index.ts';
import { lockQueues, releaseLocksOf, unlockQueues, type QueueLockRequests } from './queue-lock-requests.ts';
import { proposeWithTopics, routeDelayed, sendBack, type DelayedSendContext } from './delayed-send.ts';
import { DEFAULT_DELAY_LEVELS_MS } from './delay-levels.ts';
import type { ApplyResult, BrokerStateMachine, ProducerSeq, PullResult } from './state-machine.ts';
import { trace, tracing } from '../trace/index.ts';

/** Characters of an unknown request type quoted back in the BAD_REQUEST message. */
const UNKNOWN_TYPE_QUOTED_CHARS_MAX = 64;
/** Long-polling pulls parked at once on one replica; more are answered empty at once. */
const PARKED_PULLS_MAX = 10_000;
/** Offset commits gathered into one log entry. */
const OFFSET_COMMITS_PER_ENTRY_MAX = 1024;

export interface BrokerServerOptions {
  readonly host: string;
  readonly port: number;
  /** Advertised host:port of this listener. */
  readonly advertisedAddr: string;
  readonly nodeId: NodeId;
  /** dLegerPeers ids in their order (the seed; brokerIds follow it). */
  readonly seedPeers: readonly NodeId[];
  /** This replica's Raft listener (host:port), for the configuration entries it proposes. */
  readonly peerAddr: string;
  readonly members: MembersView;
  readonly brokerName: string;
  readonly autoCreateTopicEnable: boolean;
  readonly defaultTopicQueueNums: number;
  /** How long a write may wait for a just-elected master to become ready. */
  readonly sendTimeoutMs: number;
  readonly replica: Replica;
  readonly stateMachine: BrokerStateMachine;
  readonly log: LogFn;
  /** Client address of each replica (its hello, the configuration, clientPeers). */
  readonly clientAddrOf: (id: NodeId) => string;
  /** Admission limits of the listener (src/net/server.ts); its defaults when absent. */
  readonly connectionsMax?: number;
  readonly connectionsPerAddressMax?: number;
  readonly firstFrameTimeoutMs?: number;
  /** Where requests are counted and timed; absent when metrics are off. */
  readonly metrics?: ServerMetrics;
  /** Port of this replica's metrics listener, told to operators (0: off). */
  readonly metricsPort?: number;
  /** The first index of this replica's log on disk (status). */
  readonly logFirstIndex?: () => number;
  /** The store's disk use (disk-usage.ts): above diskSpaceWarningLevelRatio the master refuses
   *  writes that add to the log with DISK_FULL. Absent: never refused. */
  readonly disk?: { refusal(): string | null; readonly usedPercent: number; readonly overWarningLevel: boolean };
  /** Whether this replica's own log writes wait for disk space (replica.ts); for status. */
  readonly writesStalled?: () => boolean;
  /** slaveReadEnable and the log it measures backlogs in (consumer-groups/slave-read.ts). */
  readonly slaveRead?: SlaveReadSettings;
  /** messageDelayLevel in ms per level (delayed sends, sendBack); default the RocketMQ levels. */
  readonly delayLevelsMs?: readonly number[];
}

interface ParkedPull {
  readonly conn: ServerConnection;
  readonly req: Extract<Request, { type: 'pull' }>;
  readonly timer: NodeJS.Timeout;
}

interface PendingCommit {
  readonly entry: CommitOffsetEntry;
  readonly conn: ServerConnection;
  readonly id: number;
}

export class BrokerServer {
  private readonly opts: BrokerServerOptions;
  private server: Server | null = null;
  /** Parked pulls by "topic\0queueId". */
  private readonly parked = new Map<string, Set<ParkedPull>>();
  private parkedCount = 0;
  private pendingCommits: PendingCommit[] = [];
  private commitFlushScheduled = false;
  private stopping = false;
  /** Consumer-group members (heartbeats), tag filters and slave-read suggestions of pulls. */
  readonly groups: ConsumerGroupService;

  constructor(opts: BrokerServerOptions) {
    this.opts = opts;
    opts.stateMachine.onApplied((e) => this.wakePulls(e.topic, e.queueId));
    const retryTopics = new RetryTopicCreator(opts.stateMachine, (data) => opts.replica.propose(data));
    this.groups = new ConsumerGroupService({
      replica: opts.replica,
      nodeId: opts.nodeId,
      notMaster: () => this.notMaster(opts.replica.role.leaderId),
      ensureRetryTopic: (group) => retryTopics.ensure(group),
      releaseOrphanLocks: (isMember) => opts.stateMachine.queueLockHolders().forEach((h) => isMember(h.group, h.clientId) || this.releaseLocksOf(h.group, h.clientId)),
      ...(opts.slaveRead ? { slaveRead: opts.slaveRead } : {}),
    });
    this.groups.registry.onMemberGone((group, clientId) => this.releaseLocksOf(group, clientId));
  }

  get port(): number {
    return this.server?.port ?? 0;
  }

  /** Client connections open now. */
  get connectionCount(): number {
    return this.server?.connections.size ?? 0;
  }

  async start(): Promise<void> {
    // No frameTypes filter: a well-formed frame of an unknown type is answered BAD_REQUEST by
    // handle(), so a client newer than this broker learns why instead of losing its connection.
    const { host, port, log, connectionsMax, connectionsPerAddressMax, firstFrameTimeoutMs } = this.opts;
    this.server = await listen(
      { host, port, log, connectionsMax, connectionsPerAddressMax, firstFrameTimeoutMs },
      (frame, conn) => this.handle(frame as unknown as Request, conn),
    );
    this.groups.start();
  }

  /** Stops taking requests (answers SHUTTING_DOWN), then closes the listener. */
  async close(): Promise<void> {
    this.stopping = true;
    for (const set of this.parked.values()) for (const p of set) this.answerPull(p);
    this.groups.stop();
    await this.server?.close();
  }

  private reply(conn: ServerConnection, resp: Response): void {
    conn.send(resp);
  }

  private fail(conn: ServerConnection, id: number, err: unknown): void {
    const resp = errorResponse(id, this.toRaftmqError(err));
    this.opts.metrics?.failed(resp.code);
    conn.send(resp);
  }

  private toRaftmqError(err: unknown): unknown {
    if (err instanceof ProposalError) {
      if (err.code === 'NOT_MASTER') return this.notMaster(err.leaderId);
      return new RaftmqError(err.code, err.message);
    }
    if (err instanceof BrokerError) return new RaftmqError(err.code, err.message);
    return err;
  }

  private notMaster(leaderId: NodeId): RaftmqError {
    const known = leaderId !== NONE && leaderId !== this.opts.nodeId;
    const addr = known ? this.opts.clientAddrOf(leaderId) : '';
    return new RaftmqError(
      known ? 'NOT_MASTER' : 'NO_QUORUM',
      known ? `${this.opts.nodeId} is a slave; the master is ${leaderId}` : `${this.opts.nodeId} is a slave and no master is elected now`,
      known ? { masterId: leaderId, ...(addr ? { masterAddr: addr } : {}) } : {},
    );
  }

  private handle(req: Request, conn: ServerConnection): void {
    if (this.stopping) {
      this.fail(conn, req.id, new RaftmqError('SHUTTING_DOWN', `${this.opts.nodeId} is shutting down`));
      return;
    }
    try {
      if (req.type === 'send' || req.type === 'createTopic') this.refuseIfDiskFull();
      const consistency = (req as { consistency?: unknown }).consistency;
      if (consistency !== undefined && consistency !== 'linearizable' && consistency !== 'committed') throw new RaftmqError('BAD_REQUEST', 'consistency must be committed or linearizable');
      switch (req.type) {
        case 'send': {
          const blobs = (req as { blobs?: Buffer }).blobs;
          const send = withBodies(req, blobs);
          const arrivedMs = this.opts.metrics === undefined ? 0 : performance.now();
          return this.whenMasterReady(send, conn, () => this.handleSend(send, conn, arrivedMs, blobs!.length));
        }
        case 'pull':
          if (req.consistency === 'linearizable') return this.linearizable(req, conn, () => this.handlePull(req, conn));
          return this.whenCurrent(req, conn, () => this.handlePull(req, conn));
        case 'heartbeat':
        case 'unregisterClient':
        case 'consumerList':
          return this.whenMasterReady(req, conn, () => this.groups.handle(req, conn, (resp) => this.reply(conn, resp), (err) => this.fail(conn, req.id, err)));
        case 'commitOffset':
          return this.whenMasterReady(req, conn, () => this.handleCommitOffset(req, conn));
        case 'sendBack':
          return this.whenMasterReady(req, conn, () => this.handleSendBack(req, conn));
        case 'lockQueues':
        case 'unlockQueues':
          return this.whenMasterReady(req, conn, () => this.handleQueueLocks(req, conn));
        case 'queryOffset': {
          const answer = () => this.reply(conn, { type: 'offset', id: req.id, offset: this.opts.stateMachine.queryOffset(req.group, req.topic, req.queueId) });
          if (req.consistency === 'linearizable') return this.linearizable(req, conn, answer);
          return this.whenCurrent(req, conn, answer);
        }
        case 'searchOffset':
          return this.whenCurrent(req, conn, () =>
            this.reply(conn, { type: 'offset', id: req.id, offset: this.opts.stateMachine.searchOffset(req.topic, req.queueId, req.timestamp) }),
          );
        case 'createTopic':
          return this.whenMasterReady(req, conn, () => this.handleCreateTopic(req, conn));
        case 'deleteTopic':
          return this.whenMasterReady(req, conn, () => this.handleDeleteTopic(req, conn));
        case 'route':
          return this.whenCurrent(req, conn, () => this.handleRoute(req, conn));
        case 'status':
          return this.reply(conn, { type: 'status', id: req.id, status: this.status() });
        case 'transferLeader':
          return this.handleTransfer(req, conn);
        case 'brokerInfo':
          return this.reply(conn, { type: 'brokerInfo', id: req.id, info: brokerInfoOf({ ...this.opts, metricsPort: this.opts.metricsPort ?? 0, status: () => this.status() }) });
        case 'viewMessage':
          return this.reply(conn, { type: 'messages', id: req.id, messages: viewMessage(this.opts.stateMachine, req) });
        case 'queryMessage':
          return this.reply(conn, { type: 'messages', id: req.id, messages: queryMessage(this.opts.stateMachine, req) });
        case 'members':
          return this.reply(conn, { type: 'members', id: req.id, members: this.membersInfo() });
        case 'memberChange':
          return this.whenMasterReady(req, conn, () => this.handleMemberChange(req, conn));
        default:
          throw new RaftmqError('BAD_REQUEST', `unknown request type ${JSON.stringify((req as Frame).type).slice(0, UNKNOWN_TYPE_QUOTED_CHARS_MAX)}`);
      }
    } catch (err) {
      this.fail(conn, req.id, err);
    }
  }

  /** On the master, a write that adds to the log is refused while the disk is above the warning
   *  level (sends and topic creation; offset commits go on: a few bytes each, batched, they keep
   *  consumers' progress, as RocketMQ keeps them outside its commitlog; so do topic deletions, a
   *  few bytes that an operator cleaning up must not be refused). A slave answers as it
   *  would anyway (NOT_MASTER), so clients still find the master. */
  private refuseIfDiskFull(): void {
    if (this.opts.replica.role.role !== Role.Leader) return;
    const refusal = this.opts.disk?.refusal() ?? null;
    if (refusal !== null) throw new RaftmqError('DISK_FULL', `${this.opts.nodeId} refuses writes: ${refusal}`);
  }

  /** Runs a read once this replica has applied what a master confirmed with a quorum was
   *  committed when the read arrived (Replica.linearizableRead): on any replica, slave or learner. */
  private linearizable(req: Request, conn: ServerConnection, read: () => void): void {
    this.opts.replica.linearizableRead().then(
      () => {
        if (conn.closed) return;
        try {
          read();
        } catch (err) {
          this.fail(conn, req.id, err);
        }
      },
      (err) => this.fail(conn, req.id, err),
    );
  }

  private membersInfo() {
    return membersInfoOf(this.opts.nodeId, this.opts.members, this.opts.replica.status(), this.opts.advertisedAddr, this.opts.replica.membershipChangePending);
  }

  private handleMemberChange(req: Extract<Request, { type: 'memberChange' }>, conn: ServerConnection): void {
    const change = confChangeOf(req, this.opts.members, this.opts.nodeId, { id: this.opts.nodeId, peerAddr: this.opts.peerAddr, clientAddr: this.opts.advertisedAddr });
    this.opts.log('info', `membership change asked: ${req.op} ${req.nodeId}`, { op: req.op, nodeId: req.nodeId, force: req.force === true });
    this.opts.replica.changeMembership(change, req.force === true).then(
      () => this.reply(conn, { type: 'members', id: req.id, members: this.membersInfo() }),
      (err) => this.fail(conn, req.id, err),
    );
  }

  private requireMaster(): void {
    const role = this.opts.replica.role;
    if (role.role !== Role.Leader) throw this.notMaster(role.leaderId);
  }

  /**
   * Runs a read of applied state once it is current (Replica.readStaleness): on a master that is
   * not ready yet, when it is; on a slave that is catching up, never: the client is sent to the
   * master (NOT_MASTER with its address), as a slave that lags behind a consumer does in RocketMQ.
   */
  private whenCurrent(req: Request, conn: ServerConnection, read: () => void): void {
    const replica = this.opts.replica;
    const staleness = replica.readStaleness();
    if (staleness === null) return read();
    if (replica.role.role === Role.Leader) return this.whenMasterReady(req, conn, read);
    const leaderId = replica.role.leaderId;
    const master = this.notMaster(leaderId);
    throw new RaftmqError(master.code, `${this.opts.nodeId} cannot answer from current state: ${staleness}; ask the master`, {
      ...(master.masterId ? { masterId: master.masterId } : {}),
      ...(master.masterAddr ? { masterAddr: master.masterAddr } : {}),
    });
  }

  /**
   * Runs a write on the master. A new master takes writes only once its no-op is committed and
   * applied (until then its applied state, topics and queue counts, may lag what earlier terms
   * committed), so a write that arrives earlier waits for that point, bounded by the send timeout.
   */
  private whenMasterReady(req: Request, conn: ServerConnection, write: () => void): void {
    this.requireMaster();
    const replica = this.opts.replica;
    if (replica.leaderReady) return write();
    replica.whenLeaderReady(this.opts.sendTimeoutMs).then((ready) => {
      if (conn.closed) return;
      try {
        if (!ready) {
          this.requireMaster();
          throw new RaftmqError('TIMEOUT', `${this.opts.nodeId} was elected master but did not become ready in time`);
        }
        write();
      } catch (err) {
        this.fail(conn, req.id, err);
      }
    });
  }

  /** `arrivedMs` (performance.now(); 0 without metrics) and `bodyBytes` are for the metrics. */
  private handleSend(req: Extract<Request, { type: 'send' }>, conn: ServerConnection, arrivedMs: number, bodyBytes: number): void {
    // Only called through whenMasterReady, which checked that we are a ready master.
    if (typeof req.topic !== 'string' || !Array.isArray(req.messages)) throw new RaftmqError('BAD_REQUEST', 'send needs a topic and messages');
    if (tracing) trace('server.request', -1);
    // An idempotent producer's fields, checked (both or neither, id, seq) by prepareSend.
    const producer = req.producerId === undefined && req.seq === undefined ? undefined : ({ producerId: req.producerId, seq: req.seq } as ProducerSeq);
    const prepared = this.opts.stateMachine.prepareSend(req.topic, req.queueId, req.messages, Date.now(), producer);
    // A send with property DELAY goes to SCHEDULE_TOPIC (delayed-send.ts).
    const cmd = routeDelayed(prepared, this.delayedSends.delayLevelsMs.length);
    const proposal = cmd === prepared ? this.opts.replica.propose(encodeCommand(cmd)) : proposeWithTopics(this.delayedSends, cmd);
    proposal.then(
      (result) => {
        const r = result as ApplyResult;
        if (r.type === 'sendResult') {
          if (tracing) trace('server.reply', -1);
          this.reply(conn, { type: 'sendResult', id: req.id, batch: r.batch });
          const seconds = (performance.now() - arrivedMs) / 1000;
          if (r.duplicate === true) this.opts.metrics?.duplicateAnswered(seconds);
          else this.opts.metrics?.received(req.topic, r.batch.count, bodyBytes, seconds);
        } else if (r.type === 'error') this.fail(conn, req.id, new RaftmqError(r.code, r.message));
        else this.fail(conn, req.id, new RaftmqError('INTERNAL', `unexpected apply result ${r.type}`));
      },
      (err) => this.fail(conn, req.id, err),
    );
  }

  private handleCreateTopic(req: Extract<Request, { type: 'createTopic' }>, conn: ServerConnection): void {
    // Only called through whenMasterReady, which checked that we are a ready master.
    this.proposeThenOk(this.opts.stateMachine.prepareCreateTopic(req.topic, req.queues), req.id, conn);
  }

  private handleDeleteTopic(req: Extract<Request, { type: 'deleteTopic' }>, conn: ServerConnection): void {
    // Only called through whenMasterReady, which checked that we are a ready master.
    this.proposeThenOk(this.opts.stateMachine.prepareDeleteTopic(req.topic), req.id, conn);
  }

  /** Proposes `cmd` and answers `ok` once applied, or the error apply or the proposal gave. */
  private proposeThenOk(cmd: Parameters<typeof encodeCommand>[0], id: number, conn: ServerConnection): void {
    this.opts.replica.propose(encodeCommand(cmd)).then(
      (result) => {
        const r = result as ApplyResult;
        if (r.type === 'error') this.fail(conn, id, new RaftmqError(r.code, r.message));
        else this.reply(conn, { type: 'ok', id });
      },
      (err) => this.fail(conn, id, err),
    );
  }

  private handleSendBack(req: Extract<Request, { type: 'sendBack' }>, conn: ServerConnection): void {
    sendBack(this.delayedSends, req).then(
      () => this.reply(conn, { type: 'ok', id: req.id }),
      (err) => this.fail(conn, req.id, err),
    );
  }

  /** What delayed sends and sendBacks (delayed-send.ts) work with. */
  private get delayedSends(): DelayedSendContext {
    return { stateMachine: this.opts.stateMachine, propose: (data) => this.opts.replica.propose(data), delayLevelsMs: this.opts.delayLevelsMs ?? DEFAULT_DELAY_LEVELS_MS, now: Date.now };
  }

  /** What the queue lock requests (queue-lock-requests.ts) work with. */
  private get queueLockRequests(): QueueLockRequests {
    return { stateMachine: this.opts.stateMachine, propose: (data) => this.opts.replica.propose(data), now: Date.now };
  }

  /** lockQueues (answered lockedQueues) and unlockQueues (answered ok), on a ready master. */
  private handleQueueLocks(req: Extract<Request, { type: 'lockQueues' | 'unlockQueues' }>, conn: ServerConnection): void {
    const done = req.type === 'lockQueues'
      ? lockQueues(this.queueLockRequests, req.group, req.clientId, req.queues).then((queues): Response => ({ type: 'lockedQueues', id: req.id, queues }))
      : unlockQueues(this.queueLockRequests, req.group, req.clientId, req.queues).then((): Response => ({ type: 'ok', id: req.id }));
    done.then(
      (resp) => this.reply(conn, resp),
      (err) => this.fail(conn, req.id, err),
    );
  }

  /** On the master: releases every queue lock `clientId` holds in `group` (a member left or
   *  died: ConsumerGroupRegistry.onMemberGone). A slave, or a member holding none, does nothing;
   *  a failed proposal is logged (the locks then lapse after QUEUE_LOCK_LIFETIME_MS). */
  releaseLocksOf(group: string, clientId: string): void {
    const replica = this.opts.replica;
    if (replica.role.role !== Role.Leader || !replica.leaderReady) return;
    releaseLocksOf(this.queueLockRequests, group, clientId).catch((err: unknown) =>
      this.opts.log('warn', `queue locks of ${clientId} in ${group} not released: ${(err as Error).message}`, { group, clientId }),
    );
  }

  private handleCommitOffset(req: Extract<Request, { type: 'commitOffset' }>, conn: ServerConnection): void {
    // Only called through whenMasterReady, which checked that we are a ready master.
    const entry = this.opts.stateMachine.prepareCommitOffset(req.group, req.topic, req.queueId, req.offset);
    this.pendingCommits.push({ entry, conn, id: req.id });
    if (this.pendingCommits.length >= OFFSET_COMMITS_PER_ENTRY_MAX) this.flushCommits();
    else if (!this.commitFlushScheduled) {
      this.commitFlushScheduled = true;
      setImmediate(() => this.flushCommits());
    }
  }

  /** All offset commits of one event-loop turn become one log entry. */
  private flushCommits(): void {
    this.commitFlushScheduled = false;
    const batch = this.pendingCommits;
    this.pendingCommits = [];
    if (batch.length === 0) return;
    const data = encodeCommand({ kind: 'commitOffsets', entries: batch.map((c) => c.entry) });
    this.opts.replica.propose(data).then(
      (result) => {
        const r = result as ApplyResult;
        const rejected = new Set(r.type === 'offsetsCommitted' ? r.rejected : []);
        batch.forEach((c, i) => {
          if (r.type === 'error') this.fail(c.conn, c.id, new RaftmqError(r.code, r.message));
          else if (rejected.has(i)) this.fail(c.conn, c.id, new RaftmqError('BAD_REQUEST', 'offset commit rejected on apply (unknown queue, offset past the queue\'s max offset, or offset table full)'));
          else this.reply(c.conn, { type: 'ok', id: c.id });
        });
      },
      (err) => {
        for (const c of batch) this.fail(c.conn, c.id, err);
      },
    );
  }

  private handlePull(req: Extract<Request, { type: 'pull' }>, conn: ServerConnection): void {
    const startMs = this.opts.metrics === undefined ? 0 : performance.now();
    const result = this.pullHere(req);
    const waitMs = Math.min(Math.max(0, Number(req.waitMs) || 0), PULL_WAIT_MS_MAX);
    if (result.messages.length > 0 || waitMs === 0 || this.parkedCount >= PARKED_PULLS_MAX || req.offset < result.maxOffset) {
      this.reply(conn, { type: 'pullResult', id: req.id, ...result });
      this.recordPull(req.topic, result, startMs);
      return;
    }
    const key = `${req.topic}\0${req.queueId}`;
    const parked: ParkedPull = { conn, req, timer: setTimeout(() => this.answerPull(parked), waitMs) };
    let set = this.parked.get(key);
    if (!set) this.parked.set(key, (set = new Set()));
    set.add(parked);
    this.parkedCount++;
    conn.onClose(() => this.unpark(parked));
  }

  /** One pull answered with messages (their body bytes summed here: only with metrics on). */
  private recordPull(topic: string, result: PullResult, startMs: number): void {
    const metrics = this.opts.metrics;
    if (metrics === undefined || result.messages.length === 0) return;
    let bytes = 0;
    for (const m of result.messages) bytes += m.body.byteLength;
    metrics.delivered(topic, result.messages.length, bytes, (performance.now() - startMs) / 1000);
  }

  /** The pull as this replica can answer it. A slave may lag a consumer that read from the master:
   *  an offset past its end is kept (nextOffset = offset), not moved back to it. */
  private pullHere(req: Extract<Request, { type: 'pull' }>): PullResult {
    const result = this.opts.stateMachine.pull(req.topic, req.queueId, req.offset, req.maxCount, req.maxBytes, this.groups.tagsOf(req.expression));
    if (result.nextOffset < req.offset && req.offset >= result.maxOffset && this.opts.replica.role.role !== Role.Leader) {
      return this.groups.withSuggestion({ ...result, nextOffset: req.offset }, req.queueId);
    }
    return this.groups.withSuggestion(result, req.queueId);
  }

  private unpark(p: ParkedPull): boolean {
    const key = `${p.req.topic}\0${p.req.queueId}`;
    const set = this.parked.get(key);
    if (!set || !set.delete(p)) return false;
    if (set.size === 0) this.parked.delete(key);
    this.parkedCount--;
    clearTimeout(p.timer);
    return true;
  }

  private answerPull(p: ParkedPull): void {
    if (!this.unpark(p) || p.conn.closed) return;
    try {
      const startMs = this.opts.metrics === undefined ? 0 : performance.now();
      const result = this.pullHere(p.req);
      this.reply(p.conn, { type: 'pullResult', id: p.req.id, ...result });
      this.recordPull(p.req.topic, result, startMs);
    } catch (err) {
      this.fail(p.conn, p.req.id, err);
    }
  }

  private wakePulls(topic: string, queueId: number): void {
    const set = this.parked.get(`${topic}\0${queueId}`);
    if (!set) return;
    for (const p of [...set]) this.answerPull(p);
  }

  private handleRoute(req: Extract<Request, { type: 'route' }>, conn: ServerConnection): void {
    const sm = this.opts.stateMachine;
    const queues = sm.topicQueueCount(req.topic);
    const role = this.opts.replica.role;
    // A topic this slave does not know may have been created a moment ago on the master (not yet
    // applied here): the master answers, rather than this slave naming a default queue count.
    if (queues === undefined && role.role !== Role.Leader && role.leaderId !== NONE) throw this.notMaster(role.leaderId);
    if (queues === undefined && (req.mustExist === true || !this.opts.autoCreateTopicEnable)) throw new RaftmqError('TOPIC_NOT_FOUND', `topic ${req.topic} does not exist`);
    const replicas = this.replicas();
    this.reply(conn, {
      type: 'route',
      id: req.id,
      topic: req.topic,
      queues: queues ?? this.opts.defaultTopicQueueNums,
      master: replicas.find((r) => r.role === 'MASTER') ?? null,
      replicas,
    });
  }

  private replicas(): ReplicaInfo[] {
    const { nodeId } = this.opts;
    const peers = this.replicaIds();
    const role = this.opts.replica.role;
    return peers.map((id) => {
      const isLeader = role.leaderId === id;
      const raftRole = isLeader ? Role.Leader : Role.Follower;
      return {
        nodeId: id,
        addr: id === nodeId ? this.opts.advertisedAddr : this.opts.clientAddrOf(id),
        role: brokerRoleOf(raftRole),
        brokerId: brokerIdOf(raftRole, id, peers),
      };
    });
  }

  private handleTransfer(req: Extract<Request, { type: 'transferLeader' }>, conn: ServerConnection): void {
    this.requireMaster();
    if (!this.opts.members.conf().voters.includes(req.to)) throw new RaftmqError('BAD_REQUEST', `${String(req.to)} is not a voter of this group`);
    this.opts.replica.transferLeadership(req.to);
    this.reply(conn, { type: 'ok', id: req.id });
  }

  private replicaIds(): NodeId[] {
    return replicaIdsOf(this.opts.members.conf(), this.opts.seedPeers, this.opts.nodeId);
  }

  status(): NodeStatus {
    const st = this.opts.replica.status();
    const { nodeId } = this.opts;
    const peers = this.replicaIds();
    return {
      nodeId,
      brokerName: this.opts.brokerName,
      role: brokerRoleOf(st.role),
      raftRole: st.role,
      brokerId: brokerIdOf(st.role, nodeId, peers),
      term: st.term,
      leaderId: st.leaderId,
      leaderAddr: st.leaderId === NONE ? '' : st.leaderId === nodeId ? this.opts.advertisedAddr : this.opts.clientAddrOf(st.leaderId),
      commitIndex: st.commit,
      appliedIndex: this.opts.stateMachine.appliedIndex,
      lastIndex: st.lastIndex,
      leaderCommitIndex: st.leaderCommit,
      recovering: st.recovering,
      pid: process.pid,
      addr: this.opts.advertisedAddr,
      retainedFrom: this.opts.stateMachine.retainedFrom,
      firstIndex: this.opts.logFirstIndex?.() ?? 1,
      memberKind: st.conf.voters.includes(nodeId) ? 'VOTER' : st.conf.learners.includes(nodeId) ? 'LEARNER' : 'NONE',
      ...(this.opts.disk !== undefined
        ? { diskUsedPercent: Number(this.opts.disk.usedPercent.toFixed(1)), diskFull: this.opts.disk.overWarningLevel, diskWritesStalled: this.opts.writesStalled?.() ?? false }
        : {}),
    };
  }
}

/** A send request that came with its bodies as the frame's blobs (protocol.ts WireMessage), with
 *  the bodies put in its messages. Throws BAD_REQUEST for blobs that do not match the messages. */
function withBodies(req: Extract<Request, { type: 'send' }>, blobs: Buffer | undefined): Extract<Request, { type: 'send' }> {
  if (blobs === undefined) throw new RaftmqError('BAD_REQUEST', 'send: the message bodies must come as the frame\'s blobs (protocol.WireMessage)');
  const messages = messagesFromWire(req.messages, blobs);
  if (typeof messages === 'string') throw new RaftmqError('BAD_REQUEST', messages);
  // A field sent as nil counts as absent (msgpack writes an undefined field of some clients so).
  const { producerId, seq } = req as { producerId?: string | null; seq?: number | null };
  if (producerId == null && seq == null) return { type: 'send', id: req.id, topic: req.topic, queueId: req.queueId, messages };
  return { type: 'send', id: req.id, topic: req.topic, queueId: req.queueId, messages, producerId: producerId ?? undefined, seq: seq ?? undefined };
}
